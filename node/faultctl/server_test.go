package faultctl

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNode counts resets.
type fakeNode struct{ resets atomic.Int64 }

func (f *fakeNode) ID() string                 { return "n1" }
func (f *fakeNode) ResetGateConnections() int  { f.resets.Add(1); return 3 }
func (f *fakeNode) LeaderPartitions() []uint16 { return []uint16{2, 5} }

func start(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func do(t *testing.T, s *Server, method, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Addr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, out
}

func TestConfig_LoopbackOnly(t *testing.T) {
	for _, a := range []string{"0.0.0.0:7409", ":7409", "10.1.2.3:7409", "localhost:7409", "example.com:1", "127.0.0.1", ""} {
		c := DefaultConfig()
		c.Addr = a
		if err := c.Validate(); err == nil {
			t.Errorf("Validate accepted %q", a)
		}
		if s, err := New(Config{Addr: a}); err == nil {
			s.Close()
			t.Errorf("New accepted %q", a)
		}
	}
	for _, a := range []string{"127.0.0.1:0", "127.0.0.5:7409", "[::1]:7409"} {
		c := DefaultConfig()
		c.Addr = a
		if err := c.Validate(); err != nil {
			t.Errorf("Validate refused %q: %v", a, err)
		}
	}
	c := DefaultConfig()
	c.Addr, c.MaxFor = "127.0.0.1:0", 0
	if c.Validate() == nil {
		t.Error("Validate accepted MaxFor 0")
	}
}

// TestGateDrop_ChosenKindsUntilClearedOrExpired: a rule with p=1 drops
// exactly its kinds, the counters say so, DELETE ends it, and a rule ends
// by itself when its time is up.
func TestGateDrop_ChosenKindsUntilClearedOrExpired(t *testing.T) {
	s := start(t)
	if s.DropOneWay("deliver") {
		t.Fatal("dropped with no rule in force")
	}
	if code, _ := do(t, s, "POST", "/faults/gate-drop?p=1&kinds=deliver,cancel&for=1h"); code != 200 {
		t.Fatalf("gate-drop: %d", code)
	}
	for _, c := range []struct {
		kind string
		drop bool
	}{{"deliver", true}, {"cancel", true}, {"presence", false}, {"notify", false}, {"deliver", true}} {
		if got := s.DropOneWay(c.kind); got != c.drop {
			t.Fatalf("DropOneWay(%s) = %v, want %v", c.kind, got, c.drop)
		}
	}
	_, st := do(t, s, "GET", "/faults")
	if fmt.Sprint(st["dropped"]) != "map[cancel:1 deliver:2]" || fmt.Sprint(st["passed"]) != "map[notify:1 presence:1]" {
		t.Fatalf("GET /faults = %v", st)
	}
	if st["gate_drop"] == nil {
		t.Fatalf("GET /faults shows no rule in force: %v", st)
	}
	do(t, s, "DELETE", "/faults")
	if s.DropOneWay("deliver") {
		t.Fatal("dropped after DELETE /faults")
	}

	// Expiry, on a fake clock.
	var mu sync.Mutex
	now := time.Now()
	s.drops.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	do(t, s, "POST", "/faults/gate-drop?p=1&for=3s") // every kind
	if !s.DropOneWay("some_new_kind") {
		t.Fatal("a rule without kinds does not drop every kind")
	}
	mu.Lock()
	now = now.Add(3 * time.Second)
	mu.Unlock()
	if s.DropOneWay("deliver") {
		t.Fatal("dropped after the rule's time was up")
	}
}

// TestGateDrop_ProbabilityIsSeeded: p=0.3 with a seed drops about 30% of
// the items, and the same seed drops the same items.
func TestGateDrop_ProbabilityIsSeeded(t *testing.T) {
	s := start(t)
	run := func() []bool {
		do(t, s, "POST", "/faults/gate-drop?p=0.3&kinds=deliver&for=1h&seed=42")
		out := make([]bool, 5000)
		for i := range out {
			out[i] = s.DropOneWay("deliver")
		}
		return out
	}
	a, b := run(), run()
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("item %d: the same seed decided differently", i)
		}
		if a[i] {
			n++
		}
	}
	if n < 1200 || n > 1800 {
		t.Fatalf("p=0.3 dropped %d of 5000", n)
	}
}

// TestGateReset_RepeatsUntilTheDurationOrDelete: a reset happens at once
// and then every `every` while the fault is in force; DELETE ends it.
func TestGateReset_RepeatsUntilTheDurationOrDelete(t *testing.T) {
	s := start(t)
	if code, _ := do(t, s, "POST", "/faults/gate-reset"); code != http.StatusServiceUnavailable {
		t.Fatalf("gate-reset before Attach: %d, want 503", code)
	}
	f := &fakeNode{}
	s.Attach(f)
	code, out := do(t, s, "POST", "/faults/gate-reset")
	if code != 200 || out["closed"] != 3.0 || f.resets.Load() != 1 {
		t.Fatalf("one reset: %d %v, %d resets", code, out, f.resets.Load())
	}
	do(t, s, "POST", "/faults/gate-reset?for=1h&every=10ms")
	deadline := time.Now().Add(10 * time.Second)
	for f.resets.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d resets", f.resets.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := s.Status(); st.ResetLeftMs <= 0 || st.Resets < 5 || st.ConnsClosed != 3*st.Resets {
		t.Fatalf("status while resetting: %+v", st)
	}
	do(t, s, "DELETE", "/faults")
	if st := s.Status(); st.ResetLeftMs != 0 {
		t.Fatalf("reset loop still in force after DELETE: %+v", st)
	}
	// A short loop ends by itself; Close waits for it either way.
	do(t, s, "POST", "/faults/gate-reset?for=30ms&every=10ms")
}

func TestLeadersAndBadRequests(t *testing.T) {
	s := start(t)
	if code, _ := do(t, s, "GET", "/status/leaders"); code != http.StatusServiceUnavailable {
		t.Fatalf("leaders before Attach: %d", code)
	}
	s.Attach(&fakeNode{})
	code, out := do(t, s, "GET", "/status/leaders")
	if code != 200 || out["node"] != "n1" || fmt.Sprint(out["leads"]) != "[2 5]" {
		t.Fatalf("leaders: %d %v", code, out)
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/faults/gate-drop?p=0&for=1s"},
		{"POST", "/faults/gate-drop?p=1.5&for=1s"},
		{"POST", "/faults/gate-drop?p=x&for=1s"},
		{"POST", "/faults/gate-drop?p=1"},
		{"POST", "/faults/gate-drop?p=1&for=-1s"},
		{"POST", "/faults/gate-drop?p=1&for=1000h"},
		{"POST", "/faults/gate-drop?p=1&for=1s&kinds=DELIVER"},
		{"POST", "/faults/gate-drop?p=1&for=1s&kinds=deliver,"},
		{"POST", "/faults/gate-drop?p=1&for=1s&seed=-3"},
		{"POST", "/faults/gate-reset?for=1s&every=1ms"},
		{"POST", "/faults/gate-reset?for=nope"},
	} {
		if code, out := do(t, s, c.method, c.path); code != http.StatusBadRequest || out["error"] == "" {
			t.Errorf("%s %s: %d %v, want 400 with an error", c.method, c.path, code, out)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/faults/gate-drop?p=1&for=1s"}, {"GET", "/faults/gate-reset"}, {"POST", "/faults"}, {"POST", "/status/leaders"},
	} {
		if code, _ := do(t, s, c.method, c.path); code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405", c.method, c.path, code)
		}
	}
	if s.DropOneWay("deliver") {
		t.Fatal("a refused request installed a rule")
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr %s", s.Addr())
	}
	s.Close()
	s.Close()
}
