package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/wire"
)

var (
	flagGroups       = flag.Bool("groups", true, "run the group phase: fan-out of one large group, and memory of many groups")
	flagOnlyGroups   = flag.Bool("only-groups", false, "run only the group phase; -md and -out then get only its section")
	flagGroupNodes   = flag.Int("group-nodes", 3, "cluster size of the group phase")
	flagGroupMembers = flag.Int("group-members", 1000, "members of the fan-out group, each online with one device, spread over the nodes")
	flagGroupSenders = flag.Int("group-senders", 8, "members sending to the group (each from a second device that does not sync)")
	flagGroupRates   = flag.String("group-rates", "5,10,20,40,60,80,100,150,200", "offered group messages per second (deliveries = rate × members); it stops at the first rate not sustained")
	flagGroupsMany   = flag.Int("groups-many", 1000, "groups created for the memory measurement (0: skip)")
	flagGroupsSize   = flag.Int("groups-size", 100, "members of each group of the memory measurement")
)

// groupConfig lifts the group limits as benchConfig lifts the others.
const groupConfig = `, "group_send_rate": 1000000, "group_send_burst": 1000000, "group_op_rate": 1000000, "group_op_burst": 1000000,
 "max_groups_per_user": 100000}`

// GroupResult is the group phase's outcome.
type GroupResult struct {
	Nodes   int         `json:"nodes"`
	Members int         `json:"members"`
	Senders int         `json:"senders"`
	Steps   []groupStep `json:"steps"`
	// DeliveriesPerS is the highest sustained step's deliveries per second
	// (pushes of group entries received by the members' devices).
	DeliveriesPerS float64 `json:"group_fanout_deliveries_per_s"`
	// Many groups: RSS of the nodes before and after creating them.
	ManyGroups      int     `json:"many_groups,omitempty"`
	ManyGroupsSize  int     `json:"many_groups_size,omitempty"`
	RSSBeforeMB     float64 `json:"many_groups_rss_before_mb,omitempty"`
	RSSAfterMB      float64 `json:"many_groups_rss_after_mb,omitempty"`
	RSSPerGroupKB   float64 `json:"many_groups_rss_per_group_kb,omitempty"`
	ManyGroupsSetup float64 `json:"many_groups_setup_s,omitempty"`
}

type groupStep struct {
	Rate           int     `json:"offered_msgs_per_s"`
	Sent           int64   `json:"sent"`
	Acked          int64   `json:"acked"`
	Delivered      int64   `json:"delivered"`
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	Expected       int64   `json:"expected"`
	P50MS          float64 `json:"p50_ms"`
	P99MS          float64 `json:"p99_ms"`
	CPUUsPerDeliv  float64 `json:"cpu_us_per_delivery"`
	Sustained      bool    `json:"sustained"`
}

// groupMember is one member's receiving connection.
type groupMember struct {
	c         *rconn
	delivered atomic.Int64 // entries of the current window received
}

// window marks the bodies sent during a step's measured window, so that
// the deliveries counted are exactly those of the window's sends, however
// late they arrive.
var window atomic.Pointer[[]byte]

// latencies collects send→delivery samples (ms).
type latencies struct {
	mu sync.Mutex
	v  []float64
}

func (l *latencies) add(ms float64) {
	l.mu.Lock()
	l.v = append(l.v, ms)
	l.mu.Unlock()
}

func (l *latencies) take() (p50, p99 float64) {
	l.mu.Lock()
	v := l.v
	l.v = nil
	l.mu.Unlock()
	if len(v) == 0 {
		return 0, 0
	}
	sort.Float64s(v)
	return v[len(v)/2], v[min(len(v)-1, len(v)*99/100)]
}

func groupMemberName(i int) string { return fmt.Sprintf("gm%05d", i) }

// benchGroups runs the group phase on an n-node cluster.
func benchGroups(n int, rates []int) (*GroupResult, error) {
	logf("groups: %d-node cluster, a group of %d members, %d senders", n, *flagGroupMembers, *flagGroupSenders)
	dir, _ := filepath.Abs(fmt.Sprintf("bench/.run-groups-%dnode", n))
	cfg := benchConfig[:len(benchConfig)-1] + groupConfig
	cl, err := startCluster(*flagBin, dir, n, cfg, true, benchSecurity())
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	if n > 1 {
		time.Sleep(5 * time.Second)
	}
	initKeysOnce(cl)
	M := *flagGroupMembers
	names := make([]string, M)
	for i := range names {
		names[i] = groupMemberName(i)
	}
	if err := cl.dial.registerAll(cl.clients(), names); err != nil {
		return nil, err
	}
	addrs := cl.clients()
	owner, err := cl.dial.dialLogin(addrs[0], names[0], "setup", 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer owner.Close()
	open := true
	if _, err := owner.call(wire.TGroupCreate, &wire.GroupSettings{Group: "fanout", Open: &open}, nil); err != nil && codeOf(err) != wire.CodeNameTaken {
		return nil, fmt.Errorf("create: %w", err)
	}
	// Every member joins, logs in on its node and syncs the group.
	members := make([]*groupMember, M)
	lat := &latencies{}
	var wg sync.WaitGroup
	var firstErr atomic.Value
	sem := make(chan struct{}, 32)
	for i := 0; i < M; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			c, err := cl.dial.dialLogin(addrs[i%len(addrs)], names[i], "d", 30*time.Second)
			if err == nil {
				if _, err = c.call(wire.TGroupJoin, &wire.GroupName{Group: "fanout"}, nil); err == nil {
					err = syncGroup(c, "fanout")
				}
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, fmt.Errorf("member %s: %w", names[i], err))
				if c != nil {
					c.Close()
				}
				return
			}
			members[i] = &groupMember{c: c}
		}(i)
	}
	wg.Wait()
	if e, _ := firstErr.Load().(error); e != nil {
		for _, m := range members {
			if m != nil {
				m.c.Close()
			}
		}
		return nil, e
	}
	defer func() {
		for _, m := range members {
			m.c.Close()
		}
	}()
	for i, m := range members {
		go m.read(i, lat)
	}
	logf("  %d members online and synced", M)
	// Senders: a second device of the first members, not synced (so they
	// receive no pushes themselves).
	S := min(*flagGroupSenders, M)
	senders := make([]*rconn, S)
	for i := range senders {
		if senders[i], err = cl.dial.dialLogin(addrs[i%len(addrs)], names[i], "send", 30*time.Second); err != nil {
			return nil, err
		}
		defer senders[i].Close()
	}
	res := &GroupResult{Nodes: n, Members: M, Senders: S}
	var cmid atomic.Uint64
	for _, rate := range rates {
		st := runGroupStep(cl, members, senders, rate, lat, &cmid)
		res.Steps = append(res.Steps, st)
		logf("  %4d msgs/s offered: %d sent, %d acked, %.0f deliveries/s (%.0f%% of expected), p50 %.1f ms p99 %.1f ms, %.1f µs CPU/delivery",
			rate, st.Sent, st.Acked, st.DeliveriesPerS, 100*float64(st.Delivered)/float64(max(st.Expected, 1)), st.P50MS, st.P99MS, st.CPUUsPerDeliv)
		if !st.Sustained {
			break
		}
		res.DeliveriesPerS = st.DeliveriesPerS
	}
	if *flagGroupsMany > 0 {
		if err := manyGroups(cl, res); err != nil {
			logf("  many groups: %v", err)
		}
	}
	return res, nil
}

// syncGroup reads a group to its end, which turns its pushes on.
func syncGroup(c *rconn, g string) error {
	var after uint64
	for {
		var r wire.GroupSyncReply
		if _, err := c.call(wire.TGroupSync, &wire.GroupSync{Group: g, After: after}, &r); err != nil {
			return err
		}
		after = r.Next - 1
		if !r.More {
			return nil
		}
	}
}

// read counts the group pushes a member receives; one in 64 is decoded
// for its latency (the body starts with the send time, µs).
func (m *groupMember) read(i int, lat *latencies) {
	n := 0
	for {
		f, err := m.c.rd.ReadFrame()
		if err != nil {
			return
		}
		if f.Type != wire.TGroupMessage {
			continue
		}
		if w := window.Load(); w != nil && bytes.Contains(f.Body, *w) {
			m.delivered.Add(1)
		}
		n++
		if (n+i)%64 != 0 {
			continue
		}
		var gm wire.GroupMessage
		if wire.Decode(f.Body, &gm) == nil && len(gm.Body) >= 8 {
			sent := int64(binary.BigEndian.Uint64(gm.Body))
			lat.add(float64(time.Now().UnixMicro()-sent) / 1000)
		}
	}
}

// runGroupStep offers rate group messages a second for warm + step and
// measures the step's window.
func runGroupStep(cl *cluster, members []*groupMember, senders []*rconn, rate int, lat *latencies, cmid *atomic.Uint64) groupStep {
	st := groupStep{Rate: rate}
	mark := []byte(fmt.Sprintf("window-%09d", rate))
	window.Store(&mark)
	for _, m := range members {
		m.delivered.Store(0)
	}
	var sent, acked atomic.Int64
	var measuring atomic.Bool
	var errMu sync.Mutex
	errs := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	per := float64(rate) / float64(len(senders))
	for _, s := range senders {
		wg.Add(2)
		pending := make(chan uint32, 4096)
		go func(s *rconn) { // acks: replies come in any order (the server runs a connection's sends concurrently)
			defer wg.Done()
			outstanding := map[uint32]bool{}
			early := map[uint32]wire.Type{} // replies read before their rid was handed over
			closed := false
			settle := func(t wire.Type, body []byte) {
				switch t {
				case wire.TSendAck:
					if measuring.Load() {
						acked.Add(1)
					}
				case wire.TError:
					var e wire.Error
					wire.Decode(body, &e)
					errMu.Lock()
					errs[e.Code.Name()]++
					errMu.Unlock()
				}
			}
			take := func(rid uint32) {
				if t, ok := early[rid]; ok {
					delete(early, rid)
					settle(t, nil)
					return
				}
				outstanding[rid] = true
			}
			for !closed || len(outstanding) > 0 {
				// Take the rids written so far.
				for drained := false; !drained; {
					select {
					case rid, ok := <-pending:
						if !ok {
							closed, drained = true, true
							break
						}
						take(rid)
					default:
						drained = true
					}
				}
				if len(outstanding) == 0 {
					if closed {
						return
					}
					rid, ok := <-pending
					if !ok {
						return
					}
					take(rid)
					continue
				}
				s.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				f, err := s.rd.ReadFrame()
				if err != nil {
					errMu.Lock()
					errs[err.Error()]++
					errMu.Unlock()
					return
				}
				if f.RID == 0 {
					continue
				}
				if !outstanding[f.RID] {
					early[f.RID] = f.Type // its rid is still on its way from the writer
					continue
				}
				delete(outstanding, f.RID)
				settle(f.Type, f.Body)
			}
		}(s)
		go func(s *rconn) {
			defer wg.Done()
			defer close(pending)
			interval := time.Duration(float64(time.Second) / per)
			next := time.Now()
			body := make([]byte, 64)
			copy(body[8:], "outside-window--")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				next = next.Add(interval)
				binary.BigEndian.PutUint64(body, uint64(time.Now().UnixMicro()))
				in := measuring.Load()
				if in {
					copy(body[8:], mark)
				} else {
					copy(body[8:], "outside-window--")
				}
				rid, err := s.write(wire.TGroupSend, &wire.GroupSend{Group: "fanout", CMID: cmid.Add(1), Body: body})
				if err == nil {
					err = s.bw.Flush()
				}
				if err != nil {
					return
				}
				if in {
					sent.Add(1)
				}
				select {
				case pending <- rid:
				case <-stop:
					return
				}
			}
		}(s)
	}
	time.Sleep(*flagWarm)
	total := func() int64 {
		var t int64
		for _, m := range members {
			t += m.delivered.Load()
		}
		return t
	}
	lat.take()
	cpu0, t0 := clusterTicks(cl), time.Now()
	measuring.Store(true)
	time.Sleep(*flagStep)
	measuring.Store(false)
	cpu1, el := clusterTicks(cl), time.Since(t0)
	close(stop)
	wg.Wait()
	// The window's sends are marked: wait (up to 3 s) for their last
	// deliveries.
	expected := sent.Load() * int64(len(members))
	for end := time.Now().Add(3 * time.Second); total() < expected && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	st.Sent, st.Acked = sent.Load(), acked.Load()
	st.Delivered = total()
	st.DeliveriesPerS = float64(st.Delivered) / el.Seconds()
	st.Expected = st.Sent * int64(len(members))
	st.P50MS, st.P99MS = lat.take()
	if len(errs) > 0 {
		logf("    send errors: %v", errs)
	}
	if st.Delivered > 0 {
		st.CPUUsPerDeliv = float64(cpu1-cpu0) * 1e4 / float64(st.Delivered) // ticks are 10 ms
	}
	st.Sustained = st.Expected > 0 && float64(st.Delivered) >= 0.95*float64(st.Expected) && st.P99MS <= 500
	return st
}

// manyGroups creates *flagGroupsMany groups of *flagGroupsSize members
// (from the members registered for the fan-out, offline) and measures the
// nodes' RSS before and after.
func manyGroups(cl *cluster, res *GroupResult) error {
	G, size := *flagGroupsMany, min(*flagGroupsSize, *flagGroupMembers)
	logf("  memory: %d groups of %d members", G, size)
	before := int64(0)
	for _, p := range cl.pids() {
		before += rssKB(p)
	}
	t0 := time.Now()
	addrs := cl.clients()
	M := *flagGroupMembers
	// Member k of group g is user (g*size + k) mod M; user i's groups are
	// handled by worker i mod conc over one connection per user, the
	// creator (k = 0) first.
	const conc = 16
	run := func(creators bool) error {
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				conns := map[int]*rconn{}
				defer func() {
					for _, c := range conns {
						c.Close()
					}
				}()
				open := true
				for g := 0; g < G; g++ {
					name := fmt.Sprintf("mg%05d", g)
					for k := 0; k < size; k++ {
						i := (g*size + k) % M
						if i%conc != w || (k == 0) != creators {
							continue
						}
						c := conns[i]
						if c == nil {
							var err error
							if c, err = cl.dial.dialLogin(addrs[i%len(addrs)], groupMemberName(i), "many", 30*time.Second); err != nil {
								firstErr.CompareAndSwap(nil, err)
								return
							}
							conns[i] = c
						}
						t, body := wire.TGroupJoin, any(&wire.GroupName{Group: name})
						if k == 0 {
							t, body = wire.TGroupCreate, &wire.GroupSettings{Group: name, Open: &open}
						}
						if _, err := c.call(t, body, nil); err != nil && codeOf(err) != wire.CodeNameTaken {
							firstErr.CompareAndSwap(nil, fmt.Errorf("%s %s: %w", t, name, err))
							return
						}
					}
				}
			}(w)
		}
		wg.Wait()
		e, _ := firstErr.Load().(error)
		return e
	}
	if err := run(true); err != nil {
		return err
	}
	if err := run(false); err != nil {
		return err
	}
	res.ManyGroupsSetup = time.Since(t0).Seconds()
	time.Sleep(3 * time.Second)
	after := int64(0)
	for _, p := range cl.pids() {
		after += rssKB(p)
	}
	res.ManyGroups, res.ManyGroupsSize = G, size
	res.RSSBeforeMB, res.RSSAfterMB = float64(before)/1024, float64(after)/1024
	res.RSSPerGroupKB = float64(after-before) / float64(G)
	logf("  %d groups of %d in %.0f s: RSS of the nodes %.0f → %.0f MB (%.1f KB per group)", G, size, res.ManyGroupsSetup, res.RSSBeforeMB, res.RSSAfterMB, res.RSSPerGroupKB)
	return nil
}

// groupMarkdown renders the group phase for BENCHMARKS.md.
func groupMarkdown(g *GroupResult) string {
	if g == nil {
		return ""
	}
	s := fmt.Sprintf("\n## Group fan-out\n\nOne open group of %d members, each online with one device on one of %d nodes (spread evenly) and synced; %d members send from a second device that does not sync. A delivery is one group entry pushed to one member's device. Sustained: at least 95 %% of the expected deliveries in the window and p99 send→delivery ≤ 500 ms (1 in 64 deliveries sampled).\n\n", g.Members, g.Nodes, g.Senders)
	s += "| offered msgs/s | sent | acked | deliveries/s | of expected | p50 ms | p99 ms | CPU µs/delivery (all nodes) | sustained |\n|---|---|---|---|---|---|---|---|---|\n"
	for _, st := range g.Steps {
		s += fmt.Sprintf("| %d | %d | %d | %.0f | %.0f %% | %.1f | %.1f | %.1f | %v |\n", st.Rate, st.Sent, st.Acked, st.DeliveriesPerS,
			100*float64(st.Delivered)/float64(max(st.Expected, 1)), st.P50MS, st.P99MS, st.CPUUsPerDeliv, st.Sustained)
	}
	s += fmt.Sprintf("\n`group_fanout_deliveries_per_s`: **%.0f** (target ≥ 50,000).\n", g.DeliveriesPerS)
	if g.ManyGroups > 0 {
		s += fmt.Sprintf("\nMemory: %d groups of %d members (members offline), created in %.0f s: the nodes' RSS together went from %.0f MB to %.0f MB, %.1f KB per group.\n\n",
			g.ManyGroups, g.ManyGroupsSize, g.ManyGroupsSetup, g.RSSBeforeMB, g.RSSAfterMB, g.RSSPerGroupKB)
	}
	return s
}
