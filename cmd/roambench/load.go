package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/wire"
)

const (
	maxSteps    = 64
	payloadSize = 16 // send time (8) | step (1) | measured flag (1) | padding
	tick        = 5 * time.Millisecond
)

// harness drives senders at an offered total rate and collects
// send→delivery latencies at the receivers, per step.
type harness struct {
	start    time.Time
	nSenders int
	rate     atomic.Int64 // offered msgs/s over all senders; 0 = paused
	step     atomic.Int32
	measure  atomic.Bool
	stopped  atomic.Bool

	sent, deliv         [maxSteps]atomic.Int64
	totalSent, totDeliv atomic.Int64
	acks, errs          atomic.Int64
	errCodes            sync.Map // wire.Code → *atomic.Int64

	recvs []*recorder
	// onMeasure, if set, is called when a step's measured window starts.
	onMeasure func(rate int, dur time.Duration)
	// cpu, if set, returns the CPU time the servers have used, in clock
	// ticks (1/100 s): a step then reports the CPU per message sent.
	cpu   func() int64
	ackMu sync.Mutex
	ackLt [maxSteps][]int32 // send→ack latency (µs), durable ack (roam only)

	// failover
	killAt atomic.Int64 // ns since start; 0 = no kill
}

type recorder struct {
	mu      sync.Mutex
	samples [maxSteps][]int32 // µs
}

func newHarness(nSenders, nReceivers int) *harness {
	h := &harness{start: time.Now(), nSenders: nSenders}
	for i := 0; i < nReceivers; i++ {
		h.recvs = append(h.recvs, &recorder{})
	}
	return h
}

func (h *harness) now() int64 { return int64(time.Since(h.start)) }

// stamp fills a payload for a message sent now.
func (h *harness) stamp(p []byte) (step int, measured bool) {
	binary.LittleEndian.PutUint64(p, uint64(h.now()))
	step = int(h.step.Load())
	measured = h.measure.Load()
	p[8] = byte(step)
	p[9] = 0
	if measured {
		p[9] = 1
	}
	return
}

func (h *harness) countSent(k int, step int, measured bool) {
	h.totalSent.Add(int64(k))
	if measured {
		h.sent[step].Add(int64(k))
	}
}

// delivered records one delivered payload at receiver r.
func (h *harness) delivered(r *recorder, p []byte) {
	if len(p) < payloadSize {
		return
	}
	h.totDeliv.Add(1)
	if p[9] == 0 {
		return
	}
	sentAt := int64(binary.LittleEndian.Uint64(p))
	lat := (h.now() - sentAt) / 1000
	step := int(p[8])
	h.deliv[step].Add(1)
	r.mu.Lock()
	r.samples[step] = append(r.samples[step], int32(min(lat, math.MaxInt32)))
	r.mu.Unlock()
}

func (h *harness) countErr(c wire.Code) {
	h.errs.Add(1)
	v, _ := h.errCodes.LoadOrStore(c, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (h *harness) errSummary() map[string]int64 {
	m := map[string]int64{}
	h.errCodes.Range(func(k, v any) bool {
		m[k.(wire.Code).Name()] = v.(*atomic.Int64).Load()
		return true
	})
	return m
}

// pace runs a sender's pacing loop: send(k, payload) writes k messages.
// It returns when the harness stops or send fails.
func (h *harness) pace(send func(k int, payload []byte) error) error {
	t := time.NewTicker(tick)
	defer t.Stop()
	payload := make([]byte, payloadSize)
	last := time.Now()
	// A random start for what the sender owes spreads the senders' sends
	// over time: with the same start, senders of the same rate would all
	// send in the same tick, and an offered 500/s would arrive as 128
	// messages at once four times a second.
	owed := rand.Float64()
	for !h.stopped.Load() {
		now := <-t.C
		el := now.Sub(last)
		last = now
		r := h.rate.Load()
		if r == 0 {
			owed = rand.Float64()
			continue
		}
		per := float64(r) / float64(h.nSenders)
		owed += per * el.Seconds()
		owed = min(owed, per*0.05+1) // do not burst more than 50 ms worth after a stall
		k := int(owed)
		if k == 0 {
			continue
		}
		owed -= float64(k)
		step, measured := h.stamp(payload)
		if err := send(k, payload); err != nil {
			return err
		}
		h.countSent(k, step, measured)
	}
	return nil
}

type stepResult struct {
	Offered   int     `json:"offered_per_s"`
	Sent      float64 `json:"sent_per_s"`
	Delivered float64 `json:"delivered_per_s"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	AckP99    float64 `json:"ack_p99_ms,omitempty"`
	// CPUPerMsgUS is the servers' CPU time (user + system, all nodes)
	// during the measured window divided by the messages sent in it.
	CPUPerMsgUS float64 `json:"cpu_us_per_msg,omitempty"`
	Undelivered int64   `json:"undelivered"`
	Errors      int64   `json:"errors"`
	Sustained   bool    `json:"sustained"`
}

func pct(sorted []int32, missing int64, q float64) float64 {
	n := int64(len(sorted)) + missing
	if n == 0 {
		return 0
	}
	i := int64(math.Ceil(q*float64(n))) - 1
	if i >= int64(len(sorted)) {
		return math.Inf(1)
	}
	return float64(sorted[max(i, 0)]) / 1000
}

// runStep offers rate msgs/s for warm+dur, measuring during dur, then
// drains.
func (h *harness) runStep(id, rate int, warm, dur time.Duration) stepResult {
	h.step.Store(int32(id))
	e0 := h.errs.Load()
	h.rate.Store(int64(rate))
	time.Sleep(warm)
	var cpu0, cpu1 int64
	if h.cpu != nil {
		cpu0 = h.cpu()
	}
	h.measure.Store(true)
	if h.onMeasure != nil {
		h.onMeasure(rate, dur)
	}
	time.Sleep(dur)
	h.measure.Store(false)
	if h.cpu != nil {
		cpu1 = h.cpu()
	}
	h.rate.Store(0)
	time.Sleep(100 * time.Millisecond) // senders finish their last write
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && h.totDeliv.Load() < h.totalSent.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	var all []int32
	for _, r := range h.recvs {
		r.mu.Lock()
		all = append(all, r.samples[id]...)
		r.samples[id] = nil
		r.mu.Unlock()
	}
	slices.Sort(all)
	sent := h.sent[id].Load()
	missing := max(sent-int64(len(all)), 0)
	res := stepResult{
		Offered:     rate,
		Sent:        float64(sent) / dur.Seconds(),
		Delivered:   float64(len(all)) / dur.Seconds(),
		P50:         pct(all, missing, 0.50),
		P99:         pct(all, missing, 0.99),
		P999:        pct(all, missing, 0.999),
		Undelivered: missing,
		Errors:      h.errs.Load() - e0,
	}
	if h.cpu != nil && sent > 0 {
		res.CPUPerMsgUS = float64(cpu1-cpu0) * 1e4 / float64(sent) // a tick is 10 ms
	}
	h.ackMu.Lock()
	if a := h.ackLt[id]; len(a) > 0 {
		slices.Sort(a)
		res.AckP99 = pct(a, 0, 0.99)
	}
	h.ackMu.Unlock()
	res.Sustained = res.P99 <= 50 && res.Sent >= 0.95*float64(rate) && missing == 0 && res.Errors == 0
	// Let any backlog drain before the next step.
	deadline = time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && h.totDeliv.Load() < h.totalSent.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	return res
}

// stepUp runs the rates in order and stops after the first one at or
// above always that is not sustained (the rates below always are run
// anyway: they are the fixed latency points), or that delivers less than
// 90% of its offer. best is the highest sustained rate below the first
// failure.
func (h *harness) stepUp(rates []int, always int, warm, dur time.Duration, logf func(string, ...any)) (steps []stepResult, best int) {
	for i, r := range rates {
		w := warm
		if i == 0 {
			w = 3 * warm // the first step also lets the setup's after-effects settle
		}
		res := h.runStep(i+1, r, w, dur)
		logf("  offered %6d/s: sent %8.0f/s delivered %8.0f/s p50 %7.2f ms p99 %8.2f ms p999 %8.2f ms ack-p99 %6.2f ms cpu %5.0f µs/msg undelivered %d errors %d sustained=%v",
			r, res.Sent, res.Delivered, res.P50, res.P99, res.P999, res.AckP99, res.CPUPerMsgUS, res.Undelivered, res.Errors, res.Sustained)
		steps = append(steps, res)
		if res.Sustained && (best == 0 || steps[len(steps)-2].Sustained) {
			best = r
		}
		// Past the fixed points, or once the system no longer keeps up at
		// all (the latency of higher fixed points would only measure the
		// backlog), stop at the first failure.
		if !res.Sustained && (r >= always || res.Delivered < 0.9*float64(r)) {
			break
		}
	}
	return
}

// ---- relay transport ----

func relayDial(addr string, id uint32) (net.Conn, error) {
	nc, err := dialTCP(addr)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], id)
	if _, err := nc.Write(b[:]); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// startRelayLoad connects pairs sender/receiver connections to the relay.
// frameSize is the total size of each frame on the wire.
func startRelayLoad(h *harness, addr string, pairs, frameSize int) (stop func(), err error) {
	var conns []net.Conn
	var wg sync.WaitGroup
	for i := 0; i < pairs; i++ {
		rc, err := relayDial(addr, uint32(2*i+2))
		if err != nil {
			return nil, err
		}
		conns = append(conns, rc)
		rec := h.recvs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(rc, 64<<10)
			buf := make([]byte, 64<<10)
			for {
				if _, err := io.ReadFull(br, buf[:8]); err != nil {
					return
				}
				n := int(binary.BigEndian.Uint32(buf[:4])) - 4
				if _, err := io.ReadFull(br, buf[8:8+n]); err != nil {
					return
				}
				h.delivered(rec, buf[8:8+n])
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // receivers registered before senders start
	for i := 0; i < pairs; i++ {
		sc, err := relayDial(addr, uint32(2*i+1))
		if err != nil {
			return nil, err
		}
		conns = append(conns, sc)
		dest := uint32(2*i + 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []byte
			pad := make([]byte, frameSize-8-payloadSize)
			h.pace(func(k int, payload []byte) error {
				out = out[:0]
				for j := 0; j < k; j++ {
					out = binary.BigEndian.AppendUint32(out, uint32(frameSize-4))
					out = binary.BigEndian.AppendUint32(out, dest)
					out = append(out, payload...)
					out = append(out, pad...)
				}
				_, err := sc.Write(out)
				return err
			})
		}()
	}
	return func() {
		h.stopped.Store(true)
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}, nil
}

// MarshalJSON writes an infinite percentile (some measured messages were
// never delivered) as -1, which JSON can carry.
func (s stepResult) MarshalJSON() ([]byte, error) {
	type alias stepResult
	a := alias(s)
	for _, v := range []*float64{&a.P50, &a.P99, &a.P999, &a.AckP99} {
		if math.IsInf(*v, 0) || math.IsNaN(*v) {
			*v = -1
		}
	}
	return json.Marshal(a)
}
