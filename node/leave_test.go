package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
)

// productionTiming gives the nodes roamd's Raft and reconcile timing
// (gossip stays fast, as in make sim).
func productionTiming(_ int, cfg *node.Config) {
	fastSends(0, cfg)
	cfg.HLR.Raft = hlr.DefaultRaftTiming()
	cfg.HLR.MaintainInterval = time.Second
	cfg.ReconcileInterval = time.Second
}

// worstWait is the longest a send started in [from, to) waited, and how
// many failed.
func worstWait(senders []*timedSender, from, to time.Time) (time.Duration, int, int) {
	var worst time.Duration
	n, failed := 0, 0
	for _, s := range senders {
		for _, x := range s.snapshot() {
			if x.start.Before(from) || !x.start.Before(to) {
				continue
			}
			n++
			if x.err != nil {
				failed++
			}
			worst = max(worst, x.end.Sub(x.start))
		}
	}
	return worst, n, failed
}

// TestLeave_UnderTrafficHandsOffQuickly: a node that leaves gracefully
// (production Raft timing, 64 partitions) while clients on every node
// send hands off well within its drain time, and no send — including
// those of its own clients, redirected — waits for seconds, then or when
// it comes back. The figures are logged.
func TestLeave_UnderTrafficHandsOffQuickly(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	const P = 64
	c := clustertest.New(t, 3, clustertest.Options{Partitions: P, Configure: productionTiming, DeadGrace: 30 * time.Second})
	stop := make(chan struct{})
	var senders []*timedSender
	for i := 0; i < 6; i++ {
		from, to := fmt.Sprintf("sender%d", i), fmt.Sprintf("recip%d", i)
		a := account(t, c, i%3, from)
		b := account(t, c, (i+1)%3, to)
		befriend(t, a, b)
		senders = append(senders, startTimedSender(a, to, "m", stop))
	}
	time.Sleep(2 * time.Second)
	t0 := time.Now()
	c.Leave(2)
	t1 := time.Now()
	c.WaitVoters(2, 30*time.Second) // nothing lists the node that left
	time.Sleep(3 * time.Second)
	t2 := time.Now()
	c.Restart(2)
	t3 := time.Now()
	time.Sleep(5 * time.Second)
	close(stop)
	for _, s := range senders {
		<-s.done
	}
	const bound = 5 * time.Second
	for _, ph := range []struct {
		what     string
		from, to time.Time
	}{
		{fmt.Sprintf("during the leave (%v)", t1.Sub(t0).Round(time.Millisecond)), t0.Add(-time.Second), t1},
		{"after it", t1, t2},
		{fmt.Sprintf("from the restart (%v) on", t3.Sub(t2).Round(time.Millisecond)), t2, time.Now()},
	} {
		w, n, f := worstWait(senders, ph.from, ph.to)
		t.Logf("%s: %d sends, %d failed, longest %v", ph.what, n, f, w.Round(time.Millisecond))
		if f > 0 || w > bound {
			t.Errorf("%s: %d sends failed, the longest took %v", ph.what, f, w)
		}
	}
	if d := t1.Sub(t0); d > 8*time.Second {
		t.Errorf("the leave took %v (the drain gives up after 10s)", d)
	}
}
