package node_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/client"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/node/mgmt"
	"github.com/roamhq/roam/wire"
)

// tinySession is the cheapest session that follows redirects: one
// connection and one goroutine, a SCRAM login once (the derived key is
// shared by every device of a user), then resumes with the token wherever
// a goodbye 406 sends it.
type tinySession struct {
	user, device string
	scram        *scram.Client

	mu    sync.Mutex
	nc    net.Conn
	addr  string
	token []byte
	moves int
	why   map[string]int // redirect reasons seen

	stopped atomic.Bool
}

func (s *tinySession) frame(nc net.Conn, rd *wire.Reader, typ wire.Type, body any, want wire.Type, out any) error {
	b, err := wire.AppendFrame(nil, typ, 1, body)
	if err != nil {
		return err
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := nc.Write(b); err != nil {
		return err
	}
	for {
		f, err := rd.ReadFrame()
		if err != nil {
			return err
		}
		if f.RID == 0 {
			continue
		}
		if f.Type != want {
			return fmt.Errorf("%s: got %s", typ, describe(f))
		}
		return wire.Decode(f.Body, out)
	}
}

// connect establishes the session at addr: a login the first time, a
// resume after.
func (s *tinySession) connect(addr string) (net.Conn, *wire.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	rd := wire.NewReader(nc, 1<<20)
	fail := func(err error) (net.Conn, *wire.Reader, error) { nc.Close(); return nil, nil, err }
	var w wire.Welcome
	if err := s.frame(nc, rd, wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "tiny"}, wire.TWelcome, &w); err != nil {
		return fail(err)
	}
	var ok wire.LoginOK
	if s.token == nil {
		conv := s.scram.NewConversation()
		first, _ := conv.Step("")
		var ch wire.LoginChallenge
		if err := s.frame(nc, rd, wire.TLoginStart, &wire.LoginStart{User: s.user, Device: s.device, ClientFirst: first}, wire.TLoginChallenge, &ch); err != nil {
			return fail(err)
		}
		final, err := conv.Step(ch.ServerFirst)
		if err != nil {
			return fail(err)
		}
		if err := s.frame(nc, rd, wire.TLoginFinish, &wire.LoginFinish{ClientFinal: final}, wire.TLoginOK, &ok); err != nil {
			return fail(err)
		}
	} else if err := s.frame(nc, rd, wire.TResume, &wire.Resume{User: s.user, Device: s.device, Token: s.token}, wire.TLoginOK, &ok); err != nil {
		return fail(err)
	}
	nc.SetDeadline(time.Time{})
	s.mu.Lock()
	s.nc, s.addr, s.token = nc, addr, ok.Token
	s.mu.Unlock()
	return nc, rd, nil
}

// run keeps the session up, starting at addr, until stop.
func (s *tinySession) run(addr string, fallback []string) {
	for try := 0; !s.stopped.Load(); try++ {
		nc, rd, err := s.connect(addr)
		if err != nil {
			if try > 50 {
				return
			}
			time.Sleep(50 * time.Millisecond)
			if len(fallback) > 0 {
				addr = fallback[try%len(fallback)]
			}
			continue
		}
		try = 0
		next := ""
		for {
			f, err := rd.ReadFrame()
			if err != nil {
				break
			}
			switch f.Type {
			case wire.TRedirect:
				var r wire.Redirect
				if wire.Decode(f.Body, &r) == nil {
					s.mu.Lock()
					s.why[r.Reason]++
					s.mu.Unlock()
				}
			case wire.TGoodbye:
				var g wire.Goodbye
				if wire.Decode(f.Body, &g) == nil && g.Code == wire.CodeRedirect {
					next = g.Redirect
				}
			}
		}
		nc.Close()
		if next != "" {
			s.mu.Lock()
			s.moves++
			s.mu.Unlock()
			addr = next
		}
	}
}

func (s *tinySession) stop() {
	s.stopped.Store(true)
	s.mu.Lock()
	if s.nc != nil {
		s.nc.Close()
	}
	s.mu.Unlock()
}

// balanceTiming lets one user have many devices and log in and resume
// often, and keeps idle sessions up for the whole test.
func balanceTiming(cfg *node.Config) {
	fastSends(0, cfg)
	cfg.VLR.MaxDevices = 256
	cfg.VLR.LoginBurst, cfg.VLR.LoginRate = 1<<20, 1<<20
	cfg.VLR.ResumeBurst, cfg.VLR.ResumeRate = 1<<20, 1<<20
	cfg.VLR.HeartbeatInterval = 10 * time.Minute
	cfg.VLR.MaxPreLoginPerIP = 4096
	cfg.VLR.MaxConnsPerIP = 16384
}

// startTiny starts n tiny sessions at addr, 250 devices per user (the
// users are registered first), at most 64 logging in at once.
func startTiny(t *testing.T, c *clustertest.Cluster, prefix string, n int, at int) []*tinySession {
	t.Helper()
	var out []*tinySession
	var users []*scram.Client
	for u := 0; u*250 < n; u++ {
		name := fmt.Sprintf("%s%d", prefix, u)
		cl := account(t, c, at, name)
		cl.Close()
		sc, err := scram.SHA256.NewClient(name, "pw-"+name, "")
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, sc)
	}
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	addr := c.ClientAddr(at)
	for i := 0; i < n; i++ {
		s := &tinySession{user: fmt.Sprintf("%s%d", prefix, i/250), device: fmt.Sprintf("d%d", i), scram: users[i/250], why: map[string]int{}}
		out = append(out, s)
		wg.Add(1)
		go func() {
			sem <- struct{}{}
			ready := make(chan struct{})
			go func() {
				// Release the slot once the first connection is made.
				for s.current() == "" && !s.stopped.Load() {
					time.Sleep(5 * time.Millisecond)
				}
				close(ready)
			}()
			go s.run(addr, nil)
			<-ready
			<-sem
			wg.Done()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range out {
			s.stop()
		}
	})
	return out
}

func (s *tinySession) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// sessionCounts returns the sessions of each running node.
func sessionCounts(c *clustertest.Cluster) map[int]int {
	out := map[int]int{}
	for _, i := range c.Alive() {
		out[i] = c.Node(i).Sessions()
	}
	return out
}

// spread reports whether every count is within frac of the mean and the
// counts add up to total.
func spread(counts map[int]int, total int, frac float64) bool {
	sum := 0
	for _, v := range counts {
		sum += v
	}
	if sum != total || len(counts) == 0 {
		return false
	}
	mean := float64(sum) / float64(len(counts))
	for _, v := range counts {
		if float64(v) < (1-frac)*mean || float64(v) > (1+frac)*mean {
			return false
		}
	}
	return true
}

func waitSpread(t *testing.T, c *clustertest.Cluster, what string, total int, d time.Duration) {
	t.Helper()
	start := time.Now()
	var last map[int]int
	for time.Since(start) < d {
		last = sessionCounts(c)
		if spread(last, total, 0.2) {
			t.Logf("%s: %d sessions spread within 20%% of the mean in %v: %v", what, total, time.Since(start).Round(time.Millisecond), last)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: sessions not spread within 20%% of the mean after %v: %v (want %d in all)", what, d, last, total)
}

// balanceSessions is how many sessions TestBalance_ManySessionsSpread
// runs: 3,000 by default (the figure, in make test), 300 with
// -short, or ROAM_BALANCE_SESSIONS.
func balanceSessions() int {
	if v, err := strconv.Atoi(os.Getenv("ROAM_BALANCE_SESSIONS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 300
	}
	return 3000
}

// TestBalance_ManySessionsSpread: sessions that all connect to node 0 of
// three end up within 20% of the mean on every node; so do they after a
// fourth node joins, and after node 0 leaves.
func TestBalance_ManySessionsSpread(t *testing.T) {
	n := balanceSessions()
	c := clustertest.New(t, 3, clustertest.Options{Configure: func(_ int, cfg *node.Config) {
		balanceTiming(cfg)
		cfg.Clients.Slack = 10
	}})
	start := time.Now()
	ss := startTiny(t, c, "bal", n, 0)
	t.Logf("%d sessions connected in %v", n, time.Since(start).Round(time.Millisecond))
	waitSpread(t, c, "all at node 0", n, 60*time.Second)
	c.Join()
	waitSpread(t, c, "after a join", n, 60*time.Second)
	c.Leave(0)
	waitSpread(t, c, "after node 0 left", n, 60*time.Second)
	moves := 0
	for _, s := range ss {
		moves += s.moves
	}
	t.Logf("redirects followed: %d (%.2f per session)", moves, float64(moves)/float64(n))
}

// TestLeave_RedirectSpreadsClients: a node that leaves sends its clients
// to the other nodes by load, not all to one (regression: every client of
// a leaving node went to the same node). The balancer is off, so what
// is measured is the leave's own spread.
func TestLeave_RedirectSpreadsClients(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: func(_ int, cfg *node.Config) {
		balanceTiming(cfg)
		cfg.Clients.Overload, cfg.Clients.Rebalance = 1000, 1000
	}})
	const n = 90
	ss := startTiny(t, c, "spr", n, 0)
	if got := c.Node(0).Sessions(); got != n {
		t.Fatalf("node 0 has %d sessions, want %d", got, n)
	}
	c.Leave(0)
	var counts map[int]int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if counts = sessionCounts(c); counts[1]+counts[2] == n {
			break
		}
	}
	t.Logf("after the leave: %v", counts)
	if counts[1]+counts[2] != n {
		t.Fatalf("sessions after the leave: %v, want %d in all", counts, n)
	}
	if !spread(counts, n, 0.2) {
		t.Errorf("the leaving node's %d clients were not spread over the other two: %v", n, counts)
	}
	for _, s := range ss {
		if s.why[wire.RedirectDrain] == 0 {
			t.Fatalf("a session saw no redirect push with reason %q: %v", wire.RedirectDrain, s.why)
		}
	}
}

// readyz returns the status code of the management endpoint's /readyz.
func readyz(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// adminPost posts to the management endpoint with token ("" for none).
func adminPost(t *testing.T, addr, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestDrain_UnderLoadMovesEveryClientLosesNothing: draining node 0 (over
// the management endpoint, with the admin token) while every client
// sends moves all of node 0's clients to the other nodes, and every
// acknowledged message is received exactly once. /readyz is not ready
// before the node is attached, ready after, not ready while it drains and
// ready again after undrain.
func TestDrain_UnderLoadMovesEveryClientLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: func(_ int, cfg *node.Config) {
		fastSends(0, cfg)
		cfg.Clients.DrainWait, cfg.Clients.DrainSpread = 300*time.Millisecond, time.Second
	}})
	const token = "s3cret-admin-token"
	mg, err := mgmt.New(mgmt.Config{Addr: "127.0.0.1:0", AdminToken: token})
	if err != nil {
		t.Fatal(err)
	}
	defer mg.Close()
	if code := readyz(t, mg.Addr()); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before attach: %d, want 503", code)
	}
	mg.Attach(c.Node(0))
	// Ready once every partition placed here is open and led (the last
	// replicas may still be coming in right after the start).
	for deadline := time.Now().Add(30 * time.Second); readyz(t, mg.Addr()) != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not ready 30s after the start: %+v", c.Node(0).Readiness())
		}
	}

	// Pairs sender → receiver; node 0 has receivers and senders both.
	type pair struct{ from, to int }
	pairs := []pair{{0, 1}, {1, 0}, {0, 2}, {2, 0}, {0, 0}, {1, 2}, {2, 0}, {1, 0}}
	stop := make(chan struct{})
	var senders []*timedSender
	var recvs []*recorder
	var onZero []func() string
	for i, p := range pairs {
		from, to := fmt.Sprintf("dsend%d", i), fmt.Sprintf("drecv%d", i)
		a := account(t, c, p.from, from)
		b := account(t, c, p.to, to)
		befriend(t, a, b)
		r := record(b)
		recvs = append(recvs, r)
		senders = append(senders, startTimedSender(a, to, "m", stop))
		if p.from == 0 {
			onZero = append(onZero, a.Addr)
		}
		if p.to == 0 {
			onZero = append(onZero, b.Addr)
		}
	}
	time.Sleep(500 * time.Millisecond)

	if code := adminPost(t, mg.Addr(), "/admin/drain", ""); code != http.StatusUnauthorized {
		t.Fatalf("drain without the token: %d, want 401", code)
	}
	if code := adminPost(t, mg.Addr(), "/admin/drain", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("drain with a wrong token: %d, want 401", code)
	}
	if c.Node(0).Draining() {
		t.Fatal("draining after refused requests")
	}
	if code := adminPost(t, mg.Addr(), "/admin/drain", token); code != http.StatusOK {
		t.Fatalf("drain: %d, want 200", code)
	}
	if code := readyz(t, mg.Addr()); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining: %d, want 503", code)
	}
	zero := c.ClientAddr(0)
	// The other nodes stop naming node 0 in their welcome.
	for deadline := time.Now().Add(10 * time.Second); slices.Contains(welcomeNodes(t, c.ClientAddr(1)), zero); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node 1's welcome still lists the draining node: %v", welcomeNodes(t, c.ClientAddr(1)))
		}
	}
	moved := func() bool {
		for _, addr := range onZero {
			if a := addr(); a == zero || a == "" {
				return false
			}
		}
		return c.Node(0).Sessions() == 0
	}
	start := time.Now()
	for !moved() {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("node 0 still has %d sessions 20s into the drain", c.Node(0).Sessions())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("every client of node 0 moved in %v", time.Since(start).Round(time.Millisecond))
	for deadline := time.Now().Add(10 * time.Second); len(c.Node(0).LeaderPartitions()) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node 0 still leads %v while draining", c.Node(0).LeaderPartitions())
		}
	}
	// A new login at the draining node is sent elsewhere.
	late := account(t, c, 0, "dlate")
	for deadline := time.Now().Add(10 * time.Second); late.Addr() == zero || late.Addr() == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a login at the draining node stayed there")
		}
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	for _, s := range senders {
		<-s.done
	}

	if code := adminPost(t, mg.Addr(), "/admin/undrain", token); code != http.StatusOK {
		t.Fatalf("undrain: %d, want 200", code)
	}
	for deadline := time.Now().Add(10 * time.Second); readyz(t, mg.Addr()) != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not ready 10s after undrain")
		}
	}

	total := 0
	for i, s := range senders {
		s.mu.Lock()
		want := make([]string, 0, len(s.acked))
		for body := range s.acked {
			want = append(want, body)
		}
		s.mu.Unlock()
		total += len(want)
		recvs[i].waitAll(t, want, 30*time.Second)
	}
	t.Logf("%d acknowledged messages, each received exactly once", total)
	if total < 50 {
		t.Errorf("only %d messages were acknowledged: the senders did not keep sending", total)
	}
}

// TestLeave_GossipCutStillHandsOffEveryPartition: nodes 1 and 2 gossip
// only with each other, nodes 0 and 3 only with each other (the internal
// ports all work), and node 3 leaves gracefully. Gossip tells nodes 1 and
// 2 nothing of the leave — they see nodes 0 and 3 dead, not left — yet
// node 3 hands off every partition before it exits, well within the
// drain time: it tells every node over the internal port that it leaves,
// and a node confirms over the internal port whether a member gossip
// reports dead is up (regression: a leaving node some nodes took for
// dead timed out its hand-off and exited with partitions listing it).
func TestLeave_GossipCutStillHandsOffEveryPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 4, clustertest.Options{DeadGrace: time.Minute, Configure: fastSends})
	c.WaitVoters(3, 30*time.Second)
	for _, i := range []int{0, 3} {
		c.CutGossip(i, 1, true)
		c.CutGossip(i, 2, true)
	}
	time.Sleep(3 * time.Second) // gossip declares the other side dead
	start := time.Now()
	c.Leave(3)
	took := time.Since(start)
	var listed []string
	for pid := 0; pid < 8; pid++ {
		cfg, ok := c.PartitionConfig(uint16(pid))
		for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond) // an election after the hand-off
			cfg, ok = c.PartitionConfig(uint16(pid))
		}
		if !ok {
			t.Fatalf("partition %d: no configuration", pid)
		}
		if strings.Contains(fmt.Sprint(cfg.Voters, cfg.Others), "node3") {
			listed = append(listed, fmt.Sprintf("%d: %v %v", pid, cfg.Voters, cfg.Others))
		}
	}
	t.Logf("the leave took %v", took.Round(time.Millisecond))
	if len(listed) > 0 {
		t.Fatalf("after the leave (%v), partitions still list node3: %v", took.Round(time.Millisecond), listed)
	}
	if took > 8*time.Second {
		t.Errorf("the leave took %v (the drain gives up after 10s)", took)
	}
}

// welcomeNodes returns the node list of addr's welcome.
func welcomeNodes(t *testing.T, addr string) []string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s := &tinySession{}
	var w wire.Welcome
	if err := s.frame(nc, wire.NewReader(nc, 1<<20), wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version}, wire.TWelcome, &w); err != nil {
		t.Fatal(err)
	}
	return w.Nodes
}

// recorder counts the message bodies a client receives.
type recorder struct {
	mu  sync.Mutex
	got map[string]int
}

func record(cl *client.Client) *recorder {
	r := &recorder{got: map[string]int{}}
	go func() {
		for e := range cl.Events() {
			if e.Kind == client.EventMessage {
				r.mu.Lock()
				r.got[string(e.Message.Body)]++
				r.mu.Unlock()
			}
		}
	}()
	return r
}

// waitAll waits until every body in want has arrived, and fails if one
// arrived twice.
func (r *recorder) waitAll(t *testing.T, want []string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		missing := 0
		for _, b := range want {
			if r.got[b] == 0 {
				missing++
			}
		}
		var twice []string
		for b, n := range r.got {
			if n > 1 {
				twice = append(twice, b)
			}
		}
		r.mu.Unlock()
		if len(twice) > 0 {
			t.Fatalf("received more than once: %v", twice)
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged messages never arrived", missing, len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
