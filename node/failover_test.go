package node_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/ring"
)

// timedSender sends numbered messages from a to to, one at a time, and
// records when each started and ended.
type timedSender struct {
	mu    sync.Mutex
	sends []timedSend
	acked map[string]client.Ack
	done  chan struct{}
}

type timedSend struct {
	start, end time.Time
	err        error
}

func startTimedSender(a *client.Client, to, prefix string, stop <-chan struct{}) *timedSender {
	s := &timedSender{acked: map[string]client.Ack{}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := fmt.Sprintf("%s%05d", prefix, i)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			start := time.Now()
			ack, err := a.Send(ctx, to, []byte(body))
			cancel()
			s.mu.Lock()
			s.sends = append(s.sends, timedSend{start: start, end: time.Now(), err: err})
			if err == nil {
				s.acked[body] = ack
			}
			s.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return s
}

func (s *timedSender) snapshot() []timedSend {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]timedSend(nil), s.sends...)
}

// waitLeadersStable waits until every partition has a leader and no
// leadership has moved for quiet (the balancer is done), and returns the
// leader of each partition.
func waitLeadersStable(t *testing.T, c *clustertest.Cluster, partitions int, quiet time.Duration) []string {
	t.Helper()
	var last []string
	since := time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		cur := make([]string, partitions)
		for pid := range cur {
			if cfg, ok := c.PartitionConfig(uint16(pid)); ok {
				cur[pid] = cfg.Leader
			}
		}
		if !slices.Equal(cur, last) || slices.Contains(cur, "") {
			last, since = cur, time.Now()
			continue
		}
		if time.Since(since) >= quiet {
			return cur
		}
	}
	t.Fatalf("leaderships still moving after 60s: %v", last)
	return nil
}

// userIn returns a user name whose home partition is pid.
func userIn(prefix string, pid uint16, partitions int) string {
	for i := 0; ; i++ {
		if u := fmt.Sprintf("%s%d", prefix, i); ring.PartitionOf(u, partitions) == pid {
			return u
		}
	}
}

// TestRouter_ReachesNewLeaderOfFrozenNode: a leader that stops answering
// on its internal port (SIGSTOP: connections stay open, nothing comes
// back) must not hold the requests routed to it. Once the partition has a
// new leader, sends to its users go through within a couple of seconds,
// rather than waiting out the request timeout on the frozen node.
func TestRouter_ReachesNewLeaderOfFrozenNode(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	// The setup needs the partition's leader to stay put until the
	// freeze; on this shared machine an election (a starved process) or
	// a balancing move can come in between. That is retried with a fresh
	// cluster; the property itself is never retried.
	for attempt := 1; ; attempt++ {
		if frozenLeaderRun(t) {
			return
		}
		if attempt == 3 {
			t.Fatal("the leader moved before the freeze in 3 fresh clusters")
		}
		t.Logf("attempt %d: the leader moved before the freeze; again with a fresh cluster", attempt)
	}
}

// frozenLeaderRun is one run of TestRouter_ReachesNewLeaderOfFrozenNode;
// it returns false when the setup's precondition failed.
func frozenLeaderRun(t *testing.T) bool {
	const P = 8
	c := clustertest.New(t, 3, clustertest.Options{Partitions: P, Configure: fastSends})
	// The leader of bob's partition is frozen; alice (homed elsewhere)
	// sends to bob from both other nodes.
	leaders := waitLeadersStable(t, c, P, 2*time.Second)
	pid, frozen := uint16(0), nodeIndex(t, leaders[0])
	bob := userIn("bob", pid, P)
	alice := ""
	for i := 0; alice == ""; i++ {
		u := fmt.Sprintf("alice%d", i)
		if q := ring.PartitionOf(u, P); q != pid {
			if cfg, ok := c.PartitionConfig(q); ok && nodeIndex(t, cfg.Leader) != frozen {
				alice = u
			}
		}
	}
	others := []int{(frozen + 1) % 3, (frozen + 2) % 3}
	b := account(t, c, others[0], bob)
	a := account(t, c, others[0], alice)
	befriend(t, a, b)
	a2 := dial(t, c, others[1], "alice-second")
	if err := a2.Login(ctx30(), alice, "pw-"+alice); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	senders := []*timedSender{startTimedSender(a, bob, "x", stop), startTimedSender(a2, bob, "y", stop)}
	for _, s := range senders {
		for len(s.snapshot()) < 10 {
			time.Sleep(10 * time.Millisecond)
		}
	}

	if cfg, _ := c.PartitionConfig(pid); cfg.Leader != leaders[pid] {
		t.Logf("the leader of partition %d moved from %s to %s", pid, leaders[pid], cfg.Leader)
		close(stop)
		for _, s := range senders {
			<-s.done
		}
		return false
	}
	frozeAt := time.Now()
	c.Freeze(frozen, true)
	var elected time.Time
	var leader int
	for deadline := time.Now().Add(30 * time.Second); elected.IsZero(); time.Sleep(5 * time.Millisecond) {
		for _, i := range others {
			if r, ok := c.Node(i).Raft(pid); ok && r.State() == raft.Leader {
				elected, leader = time.Now(), i
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no new leader elected within 30s of the freeze")
		}
	}
	// Every send in flight at the election, and every send started after
	// it, must end soon after the election (or after its own start).
	const bound = 2 * time.Second
	watchUntil := elected.Add(3 * time.Second)
	for time.Now().Before(watchUntil.Add(bound)) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	for _, s := range senders {
		<-s.done
	}
	c.Freeze(frozen, false)

	var worst time.Duration
	var firstAck time.Time
	for si, s := range senders {
		for _, x := range s.snapshot() {
			if x.end.Before(elected) || x.start.After(watchUntil) {
				continue
			}
			if x.err == nil && (firstAck.IsZero() || x.end.Before(firstAck)) {
				firstAck = x.end
			}
			from := elected
			if x.start.After(elected) {
				from = x.start
			}
			wait := x.end.Sub(from)
			worst = max(worst, wait)
			if x.err != nil || wait > bound {
				t.Errorf("sender %d: send started %v after the freeze ended %v after the election (err %v)",
					si, x.start.Sub(frozeAt).Round(time.Millisecond), x.end.Sub(elected).Round(time.Millisecond), x.err)
			}
		}
	}
	t.Logf("froze node%d; node%d elected for partition %d after %v; first ack %v after the election; longest wait after it %v",
		frozen, leader, pid, elected.Sub(frozeAt).Round(time.Millisecond), firstAck.Sub(elected).Round(time.Millisecond), worst.Round(time.Millisecond))

	// Nothing acknowledged was lost or stored twice.
	acked := map[string]client.Ack{}
	for _, s := range senders {
		for k, v := range s.acked {
			acked[k] = v
		}
	}
	got := audit(t, c, others[1], bob, len(acked))
	seen := map[string]int{}
	for _, m := range got {
		seen[string(m.Body)]++
		if seen[string(m.Body)] > 1 {
			t.Fatalf("%q stored twice", m.Body)
		}
	}
	for body := range acked {
		if seen[body] != 1 {
			t.Fatalf("acknowledged %q lost", body)
		}
	}
	return true
}

// TestRouter_RetriedResumeKeepsSession: a resume whose reply is lost after
// the leader applied it (the token rotated) is retried; the retry finds
// the old token gone. The router must answer with the resumed session,
// not log the user out.
func TestRouter_RetriedResumeKeepsSession(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	const P = 8
	c := clustertest.New(t, 3, clustertest.Options{Partitions: P, Configure: func(i int, cfg *node.Config) {
		fastSends(i, cfg)
		cfg.VLR.RequestTimeout = 20 * time.Second
	}})
	leader := nodeIndex(t, waitLeadersStable(t, c, P, 2*time.Second)[0])
	bob := userIn("bob", 0, P)
	via := (leader + 1) % 3
	first := account(t, c, via, bob)
	token := first.Token()
	first.Close()

	// The leader of bob's partition carries out what it is sent, but its
	// replies are lost until it is unmuted.
	c.Mute(leader, true)
	cfg := client.DefaultConfig(c.ClientAddr(via))
	cfg.Device = bob + "-dev"
	cfg.RequestTimeout = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	again, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- again.Resume(ctx, bob, token) }()
	time.Sleep(1500 * time.Millisecond) // the first attempt is cut after 1s of silence
	c.Mute(leader, false)
	if err := <-done; err != nil {
		t.Fatalf("resume after a lost reply: %v", err)
	}
	t.Logf("resumed %v after the start (reply of the first attempt lost)", time.Since(start).Round(time.Millisecond))
	w, err := again.Whoami(ctx)
	if err != nil || w.User != bob {
		t.Fatalf("whoami after the resume: %+v, %v", w, err)
	}
}
