package hlr

import (
	"fmt"
	"testing"
)

// TestDedupFilter_NeverAbsentForAnAddedKey: a key added is never called
// absent; before the scan is complete nothing is; unseen keys mostly are.
func TestDedupFilter_NeverAbsentForAnAddedKey(t *testing.T) {
	f := newDedupFilter(1000)
	key := func(i int) []byte { return dedupKey(fmt.Sprintf("u%d", i%50), dedupSuffix("s", "d", uint64(i))) }
	for i := 0; i < 20000; i++ {
		f.add(key(i))
	}
	if f.absent(key(20001)) {
		t.Fatal("absent before the filter was complete")
	}
	f.ready = true
	for i := 0; i < 20000; i++ {
		if f.absent(key(i)) {
			t.Fatalf("key %d added but called absent", i)
		}
	}
	present := 0
	for i := 20000; i < 40000; i++ {
		if !f.absent(key(i)) {
			present++
		}
	}
	// Sized for 16,384 keys (the minimum) and holding 20,000: a few per
	// cent wrong "present" at most.
	if present > 20000*5/100 {
		t.Fatalf("%d of 20000 unseen keys called present", present)
	}
	if !f.full() {
		t.Fatal("20,000 keys in a filter sized for 16,384 is not full")
	}
}

// TestDedupFilter_RetriesAfterReopenAreDuplicates: sends applied, the
// state machine opened again on the same store (a restart: its filter
// starts empty and is built by scanning across several batches), and
// every send retried, oldest and newest first, while the filter is being
// built and once it is complete: each one is answered as the duplicate
// it is, with its first id, and stored once.
func TestDedupFilter_RetriesAfterReopenAreDuplicates(t *testing.T) {
	r := newRig(t, 3)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	const n = 3*dedupScanStep + 100 // the scan takes four batches
	ids := make([]uint64, n)
	send := func(i int) Cmd {
		return Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: uint64(i + 1), Body: []byte("x"), TTLMS: 3_600_000}
	}
	for i := 0; i < n; i += 256 {
		var cmds []Cmd
		for j := i; j < i+256 && j < n; j++ {
			cmds = append(cmds, send(j))
		}
		for k, res := range r.do(cmds...) {
			if res.Status != StatusOK || res.Dup {
				t.Fatalf("send %d: %+v", i+k, res)
			}
			ids[i+k] = res.MsgID
		}
	}
	if !r.fsm.dedup.ready {
		r.do() // complete the first filter's scan (it started on an empty store)
	}
	f, err := NewFSM(r.db, 3, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r.fsm = f
	order := []int{0, n - 1, 1, n - 2}
	for i := 2; i < n-2; i++ {
		order = append(order, i)
	}
	sawBuilding, sawReady := false, false
	for _, i := range order {
		if f.dedup.ready {
			sawReady = true
		} else {
			sawBuilding = true
		}
		res := r.one(send(i))
		if !res.Dup || res.MsgID != ids[i] {
			t.Fatalf("retry of send %d after the reopen: %+v, want a duplicate of id %d", i, res, ids[i])
		}
	}
	if !sawBuilding || !sawReady {
		t.Fatalf("retries saw the filter building %v and complete %v: want both", sawBuilding, sawReady)
	}
	var h inboxHead
	if _, err := r.view().st.getRec(headKey("bob"), &h); err != nil || h.Last != n {
		t.Fatalf("bob's inbox ends at %d (%v), want %d", h.Last, err, n)
	}
	// A new send is new.
	if res := r.one(send(n)); res.Dup || res.Status != StatusOK {
		t.Fatalf("a new send after the retries: %+v", res)
	}
}
