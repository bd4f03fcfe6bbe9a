package vlr

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/hist"
	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// requestCounts counts what this node's clients asked and how each
// request was answered, for the metrics endpoint (Server.Counters). Every
// count is an atomic add on a fixed array: nothing locks or allocates on
// the request path.
type requestCounts struct {
	// n[type][slot]: requests of a type answered with the code of slot
	// (slot 0 is ok; codeSlots maps codes to slots).
	n [wire.MaxType + 1][maxCodeSlots]atomic.Uint64

	dedup     atomic.Uint64 // sends acknowledged as duplicates
	delivered atomic.Uint64 // inbox messages pushed to local sessions (live and catch-up)

	sceneDelivered atomic.Uint64 // scene says and actions pushed to local players

	sendCommit     *hist.Histogram // send received → acknowledged, nanoseconds
	commitDelivery *hist.Histogram // entry proposed at the leader → pushed here, nanoseconds
}

// maxCodeSlots bounds the codes counted separately; the last slot holds
// any code beyond the table (there is none today).
const maxCodeSlots = 64

// codeSlots maps a code to its slot; codes beyond the array go to the last.
var codeSlots, slotCodes = func() (map[wire.Code]int, []wire.Code) {
	m := map[wire.Code]int{wire.CodeOK: 0}
	rev := []wire.Code{wire.CodeOK}
	for _, c := range wire.Codes() {
		if _, ok := m[c]; ok || len(rev) == maxCodeSlots-1 {
			continue
		}
		m[c] = len(rev)
		rev = append(rev, c)
	}
	return m, rev
}()

// LatencyBounds are the bucket bounds of the latency histograms, in
// nanoseconds: 1 ms to 10 s.
var LatencyBounds = []int64{
	int64(time.Millisecond), int64(2 * time.Millisecond), int64(5 * time.Millisecond),
	int64(10 * time.Millisecond), int64(25 * time.Millisecond), int64(50 * time.Millisecond),
	int64(100 * time.Millisecond), int64(250 * time.Millisecond), int64(500 * time.Millisecond),
	int64(time.Second), int64(2500 * time.Millisecond), int64(5 * time.Second), int64(10 * time.Second),
}

func newRequestCounts() *requestCounts {
	return &requestCounts{sendCommit: hist.New(LatencyBounds...), commitDelivery: hist.New(LatencyBounds...)}
}

// done counts the answer to one request of type t; start is when a send
// was received (zero for other requests).
func (rc *requestCounts) done(t wire.Type, reply any, err error, start time.Time) {
	if t > wire.MaxType {
		return
	}
	code := wire.CodeOK
	if err != nil {
		code = errCode(err)
	}
	slot, ok := codeSlots[code]
	if !ok {
		slot = maxCodeSlots - 1
	}
	rc.n[t][slot].Add(1)
	if t == wire.TSend && err == nil {
		if a, ok := reply.(*wire.SendAck); ok && a.Dup {
			rc.dedup.Add(1)
		}
		if !start.IsZero() {
			rc.sendCommit.Observe(int64(time.Since(start)))
		}
	}
}

// pushed counts an inbox message queued for a local session; live says it
// was pushed as it was forwarded (not read back by a catch-up), so its age
// is the commit-to-delivery latency.
func (rc *requestCounts) pushed(m *hlr.Message, live bool) {
	rc.delivered.Add(1)
	if live && m.SentMS > 0 {
		if d := time.Since(time.UnixMilli(m.SentMS)); d >= 0 {
			rc.commitDelivery.Observe(int64(d))
		}
	}
}

// errCode is the code a client is answered with for err (as
// conn.respond and conn.internal choose it).
func errCode(err error) wire.Code {
	var re *reqError
	if errors.As(err, &re) {
		return re.code
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, hlr.ErrTimeout) ||
		errors.Is(err, hlr.ErrNotLeader) || errors.Is(err, hlr.ErrClosed) || errors.Is(err, context.Canceled) {
		return wire.CodeUnavailable
	}
	return wire.CodeInternal
}

// RequestCount is how many requests of one type were answered with one
// code (wire.CodeOK for success) since start.
type RequestCount struct {
	Type wire.Type
	Code wire.Code
	N    uint64
}

// Counters are the client requests a node has answered since start.
type Counters struct {
	Requests     []RequestCount // every (type, code) answered at least once, by type then code
	Deduplicated uint64         // sends acknowledged as duplicates of earlier ones (send_ack dup)
	Delivered    uint64         // inbox messages pushed to sessions here, live or by catch-up
	ScenePushed  uint64         // scene says and actions pushed to players here
	// SendCommit: from a send's arrival to its acknowledgement (rate
	// limit, lease and the quorum commit included), in nanoseconds.
	SendCommit hist.Snapshot
	// CommitDelivery: from the proposal of a message's Raft entry at its
	// partition leader (the message's SentMS, leader's clock) to its push
	// to a session here (this node's clock), live pushes only.
	CommitDelivery hist.Snapshot
}

// Count returns the requests of type t answered with code c.
func (c Counters) Count(t wire.Type, code wire.Code) uint64 {
	for _, r := range c.Requests {
		if r.Type == t && r.Code == code {
			return r.N
		}
	}
	return 0
}

// Counters returns the request counters.
func (s *Server) Counters() Counters {
	rc := s.counts
	out := Counters{
		Deduplicated:   rc.dedup.Load(),
		Delivered:      rc.delivered.Load(),
		ScenePushed:    rc.sceneDelivered.Load(),
		SendCommit:     rc.sendCommit.Snapshot(),
		CommitDelivery: rc.commitDelivery.Snapshot(),
	}
	for t := range rc.n {
		for slot := range rc.n[t] {
			if n := rc.n[t][slot].Load(); n > 0 {
				code := wire.Code(0xffff)
				if slot < len(slotCodes) {
					code = slotCodes[slot]
				}
				out.Requests = append(out.Requests, RequestCount{Type: wire.Type(t), Code: code, N: n})
			}
		}
	}
	return out
}
