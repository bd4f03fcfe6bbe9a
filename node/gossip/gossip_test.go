package gossip

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cluster starts a with testParams and joins the other ids to it.
func cluster(t *testing.T, ids ...string) []*Gossip {
	t.Helper()
	p := testParams
	nodes := []*Gossip{startNode(t, testConfig(t, ids[0], &p))}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := nodes[0].Join(ctx, nil); err != nil || got != testParams {
		t.Fatalf("first node Join(nil) = %+v, %v", got, err)
	}
	for _, id := range ids[1:] {
		g := startNode(t, testConfig(t, id, nil))
		got, err := g.Join(ctx, []string{nodes[0].Addr()})
		if err != nil {
			t.Fatalf("%s Join: %v", id, err)
		}
		if got != testParams {
			t.Fatalf("%s Join params = %+v, want %+v", id, got, testParams)
		}
		nodes = append(nodes, g)
	}
	for _, g := range nodes {
		waitFor(t, 5*time.Second, g.cfg.NodeID+" sees all alive", func() bool {
			return countState(g, StateAlive) == len(ids)
		})
	}
	return nodes
}

func TestJoin_ThreeNodesSeeEachOther(t *testing.T) {
	checkLeaks(t)
	nodes := cluster(t, "a", "b", "c")
	for _, g := range nodes {
		ms := g.Members()
		if len(ms) != 3 {
			t.Fatalf("%s: %d members, want 3: %+v", g.cfg.NodeID, len(ms), ms)
		}
		for i, m := range ms {
			want := nodes[i]
			if m.ID != want.cfg.NodeID || m.State != StateAlive || m.Meta != want.cfg.Meta ||
				m.GossipAddr != want.Addr() || m.Since.IsZero() {
				t.Errorf("%s sees %+v, want id %s alive meta %+v addr %s", g.cfg.NodeID, m, want.cfg.NodeID, want.cfg.Meta, want.Addr())
			}
		}
		if p, ok := g.Params(); !ok || p != testParams {
			t.Errorf("%s Params() = %+v, %v", g.cfg.NodeID, p, ok)
		}
	}
	select {
	case <-nodes[0].Changes():
	default:
		t.Error("no change signalled")
	}
}

func TestSetLoad_Propagates(t *testing.T) {
	checkLeaks(t)
	nodes := cluster(t, "a", "b", "c")
	<-nodes[0].Changes() // drain
	nodes[2].SetLoad(42)
	for _, g := range nodes {
		waitFor(t, 3*time.Second, g.cfg.NodeID+" sees c's load", func() bool {
			m, _ := member(g, "c")
			return m.Meta.Load == 42 && m.State == StateAlive
		})
	}
	select {
	case <-nodes[0].Changes():
	default:
		t.Error("load update not signalled on Changes")
	}
	if m, _ := member(nodes[0], "c"); m.Meta.ClientAddr != nodes[2].cfg.Meta.ClientAddr {
		t.Errorf("meta after SetLoad = %+v", m.Meta)
	}
}

// A node that stops without Leave is Dead (and comes back Alive under the
// same id); a node that calls Leave is Left.
func TestShutdown_SeenDead_Leave_SeenLeft(t *testing.T) {
	checkLeaks(t)
	nodes := cluster(t, "a", "b", "c")
	a, b := nodes[0], nodes[1]

	stopped := time.Now()
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Gossip{a, b} {
		waitFor(t, 6*time.Second, g.cfg.NodeID+" sees c dead", func() bool {
			m, _ := member(g, "c")
			return m.State == StateDead
		})
	}
	m, _ := member(a, "c")
	t.Logf("c seen dead %v after Shutdown", m.Since.Sub(stopped).Round(time.Millisecond))
	if m.Since.Before(stopped) || m.Since.After(time.Now()) {
		t.Errorf("Since = %v, stopped at %v", m.Since, stopped)
	}

	// c restarts (new port, same id) and is Alive again.
	c2 := startNode(t, testConfig(t, "c", nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c2.Join(ctx, []string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "c alive again at its new address", func() bool {
		m, _ := member(a, "c")
		return m.State == StateAlive && m.GossipAddr == c2.Addr()
	})

	left := time.Now()
	if err := b.Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Gossip{a, c2, b} {
		waitFor(t, 3*time.Second, g.cfg.NodeID+" sees b left", func() bool {
			m, _ := member(g, "b")
			return m.State == StateLeft && !m.Since.Before(left)
		})
	}
	if err := b.Leave(time.Second); err != nil {
		t.Errorf("second Leave: %v", err)
	}
	if _, err := b.Join(ctx, []string{a.Addr()}); !errors.Is(err, ErrLeft) {
		t.Errorf("Join after Leave: %v, want ErrLeft", err)
	}

	// Dead and Left entries are forgotten after a day.
	a.mu.Lock()
	a.now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	a.mu.Unlock()
	for _, m := range a.Members() {
		if m.ID == "b" {
			t.Errorf("left member still listed after 25h: %+v", m)
		}
	}
	if _, ok := member(a, "c"); !ok {
		t.Error("alive member forgotten")
	}
}

// TestLeave_SeenLeftWhenItsBroadcastsAreLost: a node whose UDP gossip is
// lost while it leaves (the leaving flag and the leave itself are UDP
// broadcasts, sent a few times each) is still seen as Left, not as alive
// and then Dead: such a node would be kept in every placement for the
// dead-node grace period and its hand-off would never complete.
func TestLeave_SeenLeftWhenItsBroadcastsAreLost(t *testing.T) {
	checkLeaks(t)
	nodes := cluster(t, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	c.tr.dropPackets.Store(true)
	if err := c.Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Gossip{a, b} {
		waitFor(t, 3*time.Second, g.cfg.NodeID+" sees c left", func() bool {
			m, _ := member(g, "c")
			if m.State == StateDead {
				t.Fatalf("%s sees c dead, not left", g.cfg.NodeID)
			}
			return m.State == StateLeft && m.Leaving
		})
	}
}

func TestJoin_WrongKeyOrLabelCannotJoin(t *testing.T) {
	checkLeaks(t)
	p := testParams
	a := startNode(t, testConfig(t, "a", &p))
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"key", func(c *Config) { c.SecretKey = []byte("fedcba9876543210fedcba9876543210") }},
		{"label", func(c *Config) { c.Label = "other" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, withParams := range []bool{false, true} {
				cfg := testConfig(t, "x-"+tc.name, nil)
				if withParams {
					cfg.Params = &p
				}
				tc.mod(&cfg)
				x := startNode(t, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
				_, err := x.Join(ctx, []string{a.Addr()})
				cancel()
				if err == nil {
					t.Fatalf("wrong %s joined", tc.name)
				}
				t.Logf("wrong %s (params %v): %v", tc.name, withParams, err)
				if n := len(a.Members()); n != 1 {
					t.Errorf("seed sees %d members: %+v", n, a.Members())
				}
				if n := len(x.Members()); n != 1 {
					t.Errorf("intruder sees %d members: %+v", n, x.Members())
				}
				if err := x.Shutdown(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestJoin_WrongClusterID(t *testing.T) {
	checkLeaks(t)
	p1, p2 := testParams, testParams
	p2.ClusterID = "cluster-2"
	a := startNode(t, testConfig(t, "a", &p1))
	x := startNode(t, testConfig(t, "x", &p2))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := x.Join(ctx, []string{a.Addr()}); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("Join = %v, want ErrWrongCluster", err)
	}
	// A fresh node joins a and learns cluster-1; then it meets x.
	f := startNode(t, testConfig(t, "f", nil))
	if p, err := f.Join(ctx, []string{a.Addr()}); err != nil || p != p1 {
		t.Fatalf("fresh Join = %+v, %v", p, err)
	}
	if _, err := f.Join(ctx, []string{x.Addr()}); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("second Join = %v, want ErrWrongCluster", err)
	}
	waitFor(t, 3*time.Second, "a and f see each other", func() bool {
		return countState(a, StateAlive) == 2 && countState(f, StateAlive) == 2
	})
	for _, g := range []*Gossip{a, x, f} {
		for _, m := range g.Members() {
			if (g == x) != (m.ID == "x") {
				t.Errorf("%s sees %s across clusters", g.cfg.NodeID, m.ID)
			}
		}
	}
}

func TestNew_RejectsLargeMeta(t *testing.T) {
	cfg := testConfig(t, "a", nil)
	cfg.Meta.ClientAddr = strings.Repeat("x", MaxMetaSize)
	_, err := New(cfg)
	if !errors.Is(err, ErrMetaTooLarge) || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New = %v, want ErrMetaTooLarge", err)
	}
	base := cfg.Meta
	base.ClientAddr = ""
	// One more byte for the length prefix: 2 bytes from 128 up.
	cfg.Meta.ClientAddr = strings.Repeat("x", MaxMetaSize-metaSize(base)-1)
	if n := metaSize(cfg.Meta); n != MaxMetaSize {
		t.Fatalf("metaSize = %d", n)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("meta of exactly MaxMetaSize: %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	p := testParams
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no id", func(c *Config) { c.NodeID = "" }},
		{"short key", func(c *Config) { c.SecretKey = c.SecretKey[:10] }},
		{"no key", func(c *Config) { c.SecretKey = nil }},
		{"no label", func(c *Config) { c.Label = "" }},
		{"long label", func(c *Config) { c.Label = strings.Repeat("l", 256) }},
		{"hostname bind", func(c *Config) { c.BindAddr = "localhost:0" }},
		{"no port", func(c *Config) { c.BindAddr = "127.0.0.1" }},
		{"advertise without host", func(c *Config) { c.AdvertiseAddr = ":7946" }},
		{"bad params", func(c *Config) { p.Partitions = 0; c.Params = &p }},
	} {
		cfg := testConfig(t, "a", nil)
		tc.mod(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v", tc.name, err)
		}
	}
	cfg := testConfig(t, "a", &testParams)
	cfg.BindAddr = ":0"
	cfg.AdvertiseAddr = "10.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestJoin_UnreachableSeedFailsWhenCtxEnds(t *testing.T) {
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	g := startNode(t, testConfig(t, "a", nil))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = g.Join(ctx, []string{dead})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Join returned after %v", el)
	}
	t.Log(err)
}

func TestNew_PortZeroBindsTCPAndUDPOnOnePort(t *testing.T) {
	checkLeaks(t)
	g := startNode(t, testConfig(t, "a", nil))
	host, ps, err := net.SplitHostPort(g.Addr())
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr = %q", g.Addr())
	}
	port, _ := strconv.Atoi(ps)
	if port == 0 {
		t.Fatal("port 0 advertised")
	}
	if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err == nil {
		c.Close()
		t.Error("UDP port not bound")
	}
	if l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err == nil {
		l.Close()
		t.Error("TCP port not bound")
	}
}

func TestAdvertiseAddr(t *testing.T) {
	checkLeaks(t)
	cfg := testConfig(t, "a", nil)
	cfg.AdvertiseAddr = "127.0.0.2:0"
	g := startNode(t, cfg)
	host, port, _ := net.SplitHostPort(g.Addr())
	if host != "127.0.0.2" || port == "0" {
		t.Errorf("Addr = %q, want 127.0.0.2:<bound port>", g.Addr())
	}
	cfg = testConfig(t, "b", nil)
	cfg.AdvertiseAddr = "127.0.0.2:7000"
	if g := startNode(t, cfg); g.Addr() != "127.0.0.2:7000" {
		t.Errorf("Addr = %q", g.Addr())
	}
}

func TestShutdown_Twice_AndCallsAfter(t *testing.T) {
	checkLeaks(t)
	g := startNode(t, testConfig(t, "a", &testParams))
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := g.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown = %v", err)
	}
	if _, err := g.Join(context.Background(), nil); !errors.Is(err, ErrShutdown) {
		t.Errorf("Join after Shutdown = %v", err)
	}
	g.SetLoad(7) // recorded, not sent; must not panic
	if len(g.Members()) != 1 {
		t.Errorf("Members after Shutdown = %+v", g.Members())
	}
}
