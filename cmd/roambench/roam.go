package main

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/ring"
	"github.com/roamhq/roam/wire"
)

const device = "bench"

// pairNames returns sender and receiver names for pairs pairs. Receivers
// are chosen so that pair i's receiver lives in partition i mod
// partitions: with pairs ≥ partitions every partition holds an inbox that
// is written during the run (which the failover measurement relies on).
func pairNames(pairs, partitions int) (senders, receivers []string) {
	for i := 0; i < pairs; i++ {
		senders = append(senders, fmt.Sprintf("snd%d", i))
		for k := 0; ; k++ {
			name := fmt.Sprintf("rcv%dx%d", i, k)
			if int(ring.PartitionOf(name, partitions)) == i%partitions {
				receivers = append(receivers, name)
				break
			}
		}
	}
	return
}

type roamSender struct {
	user, to string
	addrIdx  int
	cmid     uint64
	times    []atomic.Int64 // send time by rid & mask
	firstOK  atomic.Int64   // first ack of a send issued after the kill
	onKilled bool
	backAt   atomic.Int64 // reconnected and logged in after the kill
}

const ridMask = 1<<16 - 1

type roamLoad struct {
	h       *harness
	cl      *cluster
	senders []*roamSender
	conns   sync.Map // *rconn → struct{}
	wg      sync.WaitGroup
}

func (l *roamLoad) alive(i int) string {
	a := l.cl.clients()
	return a[i%len(a)]
}

// setupPairs registers, logs in and befriends the pairs, then starts the
// load goroutines (paused until the harness gets a rate).
func setupPairs(h *harness, cl *cluster, pairs, partitions int, logf func(string, ...any)) (*roamLoad, error) {
	l := &roamLoad{h: h, cl: cl}
	sn, rn := pairNames(pairs, partitions)
	addrs := cl.clients()
	if err := cl.dial.registerAll(addrs, append(append([]string{}, sn...), rn...)); err != nil {
		return nil, err
	}
	type pc struct{ s, r *rconn }
	pcs := make([]pc, pairs)
	errc := make(chan error, pairs)
	sem := make(chan struct{}, 16)
	for i := 0; i < pairs; i++ {
		go func(i int) {
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := cl.dial.dialLogin(addrs[i%len(addrs)], sn[i], device, 20*time.Second)
			if err != nil {
				errc <- err
				return
			}
			r, err := cl.dial.dialLogin(addrs[(i+1)%len(addrs)], rn[i], device, 20*time.Second)
			if err != nil {
				errc <- err
				return
			}
			if _, err := s.call(wire.TFriendRequest, &wire.Peer{User: rn[i]}, nil); err != nil && codeOf(err) != wire.CodeNoRequest {
				errc <- fmt.Errorf("friend_request %s→%s: %w", sn[i], rn[i], err)
				return
			}
			if _, err := r.call(wire.TFriendAccept, &wire.Peer{User: sn[i]}, nil); err != nil {
				errc <- fmt.Errorf("friend_accept %s→%s: %w", rn[i], sn[i], err)
				return
			}
			pcs[i] = pc{s, r}
			errc <- nil
		}(i)
	}
	for i := 0; i < pairs; i++ {
		if err := <-errc; err != nil {
			return nil, err
		}
	}
	for i := 0; i < pairs; i++ {
		s := &roamSender{user: sn[i], to: rn[i], addrIdx: i, times: make([]atomic.Int64, ridMask+1)}
		l.senders = append(l.senders, s)
		l.wg.Add(2)
		go l.receive(h.recvs[i], pcs[i].r, rn[i], i+1)
		go l.send(s, pcs[i].s)
	}
	return l, nil
}

func (l *roamLoad) track(c *rconn) { l.conns.Store(c, struct{}{}) }
func (l *roamLoad) untrack(c *rconn) {
	l.conns.Delete(c)
	c.Close()
}

// reconnect logs user in again on a live node, for as long as it takes.
func (l *roamLoad) reconnect(user string, idx int) *rconn {
	for !l.h.stopped.Load() {
		c, err := l.cl.dial.dialLogin(l.alive(idx), user, device, time.Second)
		if err == nil {
			return c
		}
		idx++
	}
	return nil
}

func (l *roamLoad) receive(rec *recorder, c *rconn, user string, idx int) {
	defer l.wg.Done()
	h := l.h
	var m wire.Message
	var ackBuf []byte
	var last uint64
	for c != nil {
		l.track(c)
		n := 0
		// Pushes start only after a Sync that reads the inbox to its end.
		for {
			var rep wire.SyncReply
			if _, err := c.call(wire.TSync, &wire.Sync{After: last}, &rep); err != nil {
				break
			}
			for i := range rep.Messages {
				h.delivered(rec, rep.Messages[i].Body)
			}
			if rep.Next > 0 {
				last = max(last, rep.Next-1)
			}
			if !rep.More {
				break
			}
		}
		for {
			f, err := c.rd.ReadFrame()
			if err != nil {
				break
			}
			if f.Type != wire.TMessage {
				continue
			}
			m = wire.Message{}
			if err := wire.Decode(f.Body, &m); err != nil {
				continue
			}
			h.delivered(rec, m.Body)
			last = m.Seq
			if n++; n%64 == 0 {
				ackBuf, _ = wire.AppendFrame(ackBuf[:0], wire.TAck, 0, &wire.Ack{Seq: m.Seq})
				c.nc.Write(ackBuf)
			}
		}
		l.untrack(c)
		if h.stopped.Load() {
			return
		}
		c = l.reconnect(user, idx)
	}
}

func (l *roamLoad) send(s *roamSender, c *rconn) {
	defer l.wg.Done()
	h := l.h
	var buf []byte
	idx := s.addrIdx
	for c != nil {
		l.track(c)
		done := make(chan struct{})
		go func() {
			defer close(done)
			var ack wire.SendAck
			for {
				f, err := c.rd.ReadFrame()
				if err != nil {
					c.Close()
					return
				}
				now := h.now()
				switch f.Type {
				case wire.TSendAck:
					h.acks.Add(1)
					sentAt := s.times[f.RID&ridMask].Load()
					if h.measure.Load() {
						step := h.step.Load()
						h.ackMu.Lock()
						h.ackLt[step] = append(h.ackLt[step], int32((now-sentAt)/1000))
						h.ackMu.Unlock()
					}
					if k := h.killAt.Load(); k > 0 && sentAt > k && s.firstOK.Load() == 0 {
						s.firstOK.Store(now)
					}
					_ = ack
				case wire.TError:
					var e wire.Error
					wire.Decode(f.Body, &e)
					h.countErr(e.Code)
				}
			}
		}()
		send := wire.Send{To: s.to}
		h.pace(func(k int, payload []byte) error {
			buf = buf[:0]
			now := h.now()
			for j := 0; j < k; j++ {
				c.rid++
				s.cmid++
				s.times[c.rid&ridMask].Store(now)
				send.CMID = s.cmid
				send.Body = payload
				buf, _ = wire.AppendFrame(buf, wire.TSend, c.rid, &send)
			}
			c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err := c.nc.Write(buf)
			if err == nil {
				select {
				case <-done:
					return net.ErrClosed
				default:
				}
			}
			return err
		})
		l.untrack(c)
		<-done
		if h.stopped.Load() {
			return
		}
		idx++
		c = l.reconnect(s.user, idx)
		if c != nil && h.killAt.Load() > 0 && s.backAt.Load() == 0 {
			s.backAt.Store(h.now())
		}
	}
}

func (l *roamLoad) stop() {
	l.h.stopped.Store(true)
	l.h.rate.Store(0)
	l.conns.Range(func(k, _ any) bool { k.(*rconn).Close(); return true })
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
}

// loginMany opens one logged-in session per user with conc workers and
// returns the open connections and the login rate. User i logs in at
// addrs[i mod len(addrs)]. held, if not nil, counts the sessions opened.
func loginMany(d *dialer, addrs []string, users []string, conc int, held *atomic.Int64) ([]net.Conn, float64, error) {
	conns := make([]net.Conn, len(users))
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(users) {
					return
				}
				c, err := d.dialLogin(addrs[i%len(addrs)], users[i], device, 10*time.Second)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				conns[i] = c.nc
				if held != nil {
					held.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	rate := float64(len(users)) / time.Since(t0).Seconds()
	if e := firstErr.Load(); e != nil {
		return conns, rate, e.(error)
	}
	return conns, rate, nil
}
