package node

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

type fakeLeaders struct {
	mu      sync.Mutex
	fail    bool
	regs    map[string][]string // last registration per group
	calls   int
	notices map[string]uint64
}

func (f *fakeLeaders) register(_ context.Context, _ uint16, regs []groupReg) ([]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail {
		return nil, errors.New("leader unreachable")
	}
	heads := make([]uint64, len(regs))
	for i, r := range regs {
		f.regs[r.Group] = r.Users
		heads[i] = 40 + uint64(i)
	}
	return heads, nil
}

func (f *fakeLeaders) notice(g string, head uint64) {
	f.mu.Lock()
	f.notices[g] = head
	f.mu.Unlock()
}

func (f *fakeLeaders) snapshot() (map[string][]string, map[string]uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := map[string][]string{}
	for k, v := range f.regs {
		r[k] = append([]string(nil), v...)
	}
	n := map[string]uint64{}
	for k, v := range f.notices {
		n[k] = v
	}
	return r, n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGroupRegistrar_RegistersChangesAndDropsInterest(t *testing.T) {
	f := &fakeLeaders{regs: map[string][]string{}, notices: map[string]uint64{}}
	r := newGroupRegistrar(16, time.Hour, f.register, f.notice)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.loop(ctx)
	r.GroupInterest("team", "bob", true)
	r.GroupInterest("team", "alice", true)
	waitFor(t, "both users registered", func() bool {
		regs, n := f.snapshot()
		return reflect.DeepEqual(regs["team"], []string{"alice", "bob"}) && n["team"] != 0
	})
	r.GroupInterest("team", "alice", false)
	r.GroupInterest("team", "bob", false)
	waitFor(t, "the interest dropped", func() bool {
		regs, _ := f.snapshot()
		u, ok := regs["team"]
		return ok && len(u) == 0
	})
	if r.localUsers("team") != 0 {
		t.Fatal("local users left")
	}
}

func TestGroupRegistrar_RetriesUntilTheLeaderAnswers(t *testing.T) {
	f := &fakeLeaders{regs: map[string][]string{}, notices: map[string]uint64{}, fail: true}
	r := newGroupRegistrar(16, time.Hour, f.register, f.notice)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.loop(ctx)
	r.GroupInterest("g1", "u", true)
	waitFor(t, "a few failed attempts", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.calls >= 3
	})
	f.mu.Lock()
	f.fail = false
	f.mu.Unlock()
	waitFor(t, "the registration", func() bool {
		regs, _ := f.snapshot()
		return len(regs["g1"]) == 1
	})
}

func TestGroupRegistrar_RegroupResendsOnlyThatPartition(t *testing.T) {
	f := &fakeLeaders{regs: map[string][]string{}, notices: map[string]uint64{}}
	r := newGroupRegistrar(16, time.Hour, f.register, f.notice)
	// Find two groups in different partitions.
	a, b := "ga0", ""
	for i := 1; b == ""; i++ {
		g := "gb" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if r.pidOf(g) != r.pidOf(a) {
			b = g
		}
	}
	r.GroupInterest(a, "u", true)
	r.GroupInterest(b, "u", true)
	ctx := context.Background()
	if !r.flush(ctx) {
		t.Fatal("flush failed")
	}
	f.mu.Lock()
	f.regs = map[string][]string{}
	f.mu.Unlock()
	r.regroup(r.pidOf(a))
	if !r.flush(ctx) {
		t.Fatal("flush failed")
	}
	regs, _ := f.snapshot()
	if _, ok := regs[a]; !ok {
		t.Fatalf("regroup of %s's partition did not resend it", a)
	}
	if _, ok := regs[b]; ok {
		t.Fatalf("regroup resent %s of another partition", b)
	}
}
