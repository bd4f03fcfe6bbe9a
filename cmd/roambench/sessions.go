package main

import (
	"fmt"
	"strings"
	"time"
)

// fdMargin is how many descriptors each roamd keeps free beyond the idle
// sessions it is given (Pebble files, Raft and gossip connections, the
// debug server): running out of them would break more than the logins.
const fdMargin = 1000

// nodeRoom is what one roamd can take on: its open-file limits and the
// descriptors it has open.
type nodeRoom struct {
	addr       string
	soft, hard uint64
	fds        int
}

// free is how many more client sockets the node can hold.
func (r nodeRoom) free() int { return max(0, int(r.soft)-r.fds-fdMargin) }

func roomsOf(cl *cluster) ([]nodeRoom, error) {
	addrs, pids := cl.clients(), cl.pids()
	rooms := make([]nodeRoom, len(pids))
	for i, pid := range pids {
		soft, hard, err := fileLimits(pid)
		if err != nil {
			return nil, err
		}
		rooms[i] = nodeRoom{addr: addrs[i], soft: soft, hard: hard, fds: openFDs(pid)}
	}
	return rooms, nil
}

// share is node i's part of total sessions spread evenly over n nodes.
func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

// sessionsWithin returns how many of want idle sessions the cluster can
// hold, spread evenly over its nodes, when each node also takes extra more
// connections (the load pairs) beyond the descriptors it has open now.
func sessionsWithin(cl *cluster, want, extra int) (int, error) {
	rooms, err := roomsOf(cl)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, r := range rooms {
		n += min(share(want, len(rooms), i), max(0, r.free()-extra))
	}
	return n, nil
}

// largePlan is how the sessions beyond the first ones are spread.
type largePlan struct {
	rooms  []nodeRoom
	have   []int // sessions each node holds already
	add    []int // sessions to open at each node
	capped bool  // some node cannot take its even share
}

// planLarge spreads want sessions evenly over the nodes, of which have are
// open already, within what each node's open-file limit leaves.
func planLarge(rooms []nodeRoom, have []int, want int) largePlan {
	p := largePlan{rooms: rooms, have: have, add: make([]int, len(rooms))}
	for i, r := range rooms {
		p.add[i] = max(0, share(want, len(rooms), i)-have[i])
		if p.add[i] > r.free() {
			p.add[i], p.capped = r.free(), true
		}
	}
	return p
}

// specs splits the plan into holders of at most perHolder sessions, users
// numbered from first on.
func (p largePlan) specs(first, perHolder, conc int, heartbeat time.Duration, caFile string) []holdSpec {
	var a []holdSpec
	for i, n := range p.add {
		for n > 0 {
			k := min(n, perHolder)
			a = append(a, holdSpec{Addr: p.rooms[i].addr, First: first, Count: k, Conc: conc, Iters: scramIters, Heartbeat: heartbeat, CAFile: caFile})
			first += k
			n -= k
		}
	}
	return a
}

func (p largePlan) total() int {
	n := 0
	for i := range p.add {
		n += p.have[i] + p.add[i]
	}
	return n
}

// note explains, in words, why the cluster cannot hold want sessions.
func (p largePlan) note(want, held int) string {
	n := len(p.rooms)
	var hard uint64
	fds := make([]string, n)
	for i, r := range p.rooms {
		hard = max(hard, r.hard)
		fds[i] = fmt.Sprint(r.fds)
	}
	each := "the roamd process"
	if n > 1 {
		each = "each roamd process"
	}
	return fmt.Sprintf("%d idle sessions are not measurable on a %d-node cluster on this machine: %s would have to hold about %d client sockets, "+
		"but the hard open-file limit (RLIMIT_NOFILE) of every process here is %d and roambench cannot raise it (that needs CAP_SYS_RESOURCE). "+
		"Measured instead at %d sessions, the most that fit under that limit: roamd had %s descriptors open (%d of them the first sessions) and keeps %d free for its own files and connections.",
		want, n, each, share(want, n, 0), hard, held, strings.Join(fds, " / "), sum(p.have), fdMargin)
}

func sum(a []int) int {
	n := 0
	for _, v := range a {
		n += v
	}
	return n
}

// clusterRSS is the resident set size of the live nodes together, in KiB.
func clusterRSS(cl *cluster) int64 {
	var kb int64
	for _, p := range cl.pids() {
		kb += rssKB(p)
	}
	return kb
}

// settledRSS lets the nodes finish what the logins started, collects
// their garbage and returns their RSS.
func settledRSS(cl *cluster) int64 {
	time.Sleep(2 * time.Second)
	gcNodes(cl)
	time.Sleep(time.Second)
	return clusterRSS(cl)
}

// measureSessions logs in the first *flagSessions of the registered idle
// users from this process (the login rate and the memory per session),
// then grows to *flagSessionsLarge sessions with holder processes and
// measures the memory again. Users idleName(0 … registered-1) exist.
func measureSessions(cl *cluster, r *Result, registered int) {
	addrs := cl.clients()
	hb, err := cl.dial.heartbeatOf(addrs[0])
	if err != nil {
		logf("  heartbeat interval: %v", err)
	}
	// A heap profile with gc=1 makes each node collect garbage before its
	// RSS is read.
	gcNodes(cl)
	time.Sleep(2 * time.Second)
	before, baseFDs := clusterRSS(cl), clusterFDs(cl)
	n := min(*flagSessions, registered)
	conns, rate, err := loginMany(cl.dial, addrs, idleNames(0, n), *flagConc, nil)
	if err != nil {
		logf("  logins: %v", err)
	}
	stopPing := keepAlive(conns, hb)
	defer closeAll(conns)
	defer stopPing()
	after := settledRSS(cl)
	r.LoginsPerS = rate
	r.Sessions = n
	r.RSSBeforeMB, r.RSSAfterMB = float64(before)/1024, float64(after)/1024
	r.RSSPerSessionKB = float64(after-before) / float64(n)
	logf("  %.0f logins/s; RSS %.1f → %.1f MB: %.2f KB per idle session", rate, r.RSSBeforeMB, r.RSSAfterMB, r.RSSPerSessionKB)
	if *flagSessionsLarge <= n {
		return
	}
	have := make([]int, len(addrs))
	for i, c := range conns {
		if c != nil {
			have[i%len(addrs)]++
		}
	}
	if err := measureLarge(cl, r, have, n, registered, before, baseFDs, hb); err != nil {
		logf("  %d idle sessions: %v", *flagSessionsLarge, err)
	}
}

// measureLarge grows the cluster to *flagSessionsLarge idle sessions (or
// as many as its open-file limits allow), of which have are held already
// (users below first), with holder processes, and measures the RSS
// against before (when the nodes had baseFDs descriptors open).
func measureLarge(cl *cluster, r *Result, have []int, first, registered int, before int64, baseFDs int, hb time.Duration) error {
	want := *flagSessionsLarge
	rooms, err := roomsOf(cl)
	if err != nil {
		return err
	}
	p := planLarge(rooms, have, want)
	caFile := ""
	if cl.dial.secure() {
		caFile = cl.dial.caFile
	}
	specs := p.specs(first, *flagPerHolder, *flagConc, hb, caFile)
	if need := first + sum(p.add); need > registered {
		if err := cl.dial.registerAll(cl.clients(), idleNames(registered, need-registered)); err != nil {
			return err
		}
		logf("  registered %d more users", need-registered)
	}
	logf("  growing to %d idle sessions: %d more at %v over %d holder processes", p.total(), sum(p.add), p.add, len(specs))
	hs, held, rate, err := holdAll(specs, 5*time.Second)
	defer stopHolders(hs)
	if err != nil {
		logf("  %v", err)
	}
	afterLarge := settledRSS(cl)
	var fds []int
	for _, pid := range cl.pids() {
		fds = append(fds, openFDs(pid))
	}
	// Each session is a socket at its node: a session the node closed
	// (say, for a missed heartbeat) would still count as held here.
	atNodes := sum(fds) - baseFDs
	r.SessionsLargeWanted = want
	r.SessionsLarge = sum(have) + held
	r.RSSAfterLargeMB = float64(afterLarge) / 1024
	r.RSSPerSessionLargeKB = float64(afterLarge-before) / float64(r.SessionsLarge)
	logf("  %d idle sessions (%.0f logins/s in the holders; roamd open files %v): RSS %.1f → %.1f MB: %.2f KB per idle session",
		r.SessionsLarge, rate, fds, r.RSSBeforeMB, r.RSSAfterLargeMB, r.RSSPerSessionLargeKB)
	var notes []string
	if p.capped {
		r.SessionsLargeCapped = true
		notes = append(notes, p.note(want, r.SessionsLarge))
	} else if r.SessionsLarge < want {
		notes = append(notes, fmt.Sprintf("%d of the %d idle sessions could not log in: %v.", want-r.SessionsLarge, want, err))
	}
	if atNodes < r.SessionsLarge*99/100 {
		notes = append(notes, fmt.Sprintf("Of the %d idle sessions held by the load generator only about %d were open at the nodes when the RSS was read.", r.SessionsLarge, atNodes))
	}
	if len(notes) > 0 {
		r.SessionsLargeNote = strings.Join(notes, " ")
		logf("  %s", r.SessionsLargeNote)
	}
	return nil
}

// clusterFDs is how many descriptors the live nodes have open together.
func clusterFDs(cl *cluster) int {
	n := 0
	for _, p := range cl.pids() {
		n += openFDs(p)
	}
	return n
}

// clusterTicks is the CPU time of the live nodes together, in clock ticks.
func clusterTicks(cl *cluster) int64 {
	var t int64
	for _, p := range cl.pids() {
		t += cpuTicks(p)
	}
	return t
}

// waitQuiet waits, up to limit, until the nodes together use less than
// half a core over a second: after many sessions close they are busy for a
// while purging their locations, which would disturb what is measured next.
func waitQuiet(cl *cluster, limit time.Duration) {
	t0 := time.Now()
	for time.Since(t0) < limit {
		a := clusterTicks(cl)
		time.Sleep(time.Second)
		if clusterTicks(cl)-a < 50 { // CLK_TCK is 100 on Linux
			break
		}
	}
	logf("  nodes quiet after %v", time.Since(t0).Round(time.Second))
}
