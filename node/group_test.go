package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
)

// Groups over real TCP: members on three nodes, fan-out by node interest
// (groups.go), repair of lost forwards, interest that follows the members.

func groupLimits(i int, cfg *node.Config) {
	fastSends(i, cfg)
	cfg.VLR.GroupSendRate, cfg.VLR.GroupSendBurst = 100000, 100000
	cfg.VLR.GroupOpRate, cfg.VLR.GroupOpBurst = 100000, 100000
}

// groupEntry waits for the next entry of group g on cl.
func groupEntry(t *testing.T, cl *client.Client, g string) client.GroupMessage {
	t.Helper()
	e := waitEvent(t, cl, func(e client.Event) bool { return e.Kind == client.EventGroupMessage && e.Group == g })
	return e.GroupMessage
}

// groupSynced waits until cl's stream of g is synced (pushes flow).
func groupSynced(t *testing.T, cl *client.Client, g string) {
	t.Helper()
	waitEvent(t, cl, func(e client.Event) bool { return e.Kind == client.EventGroupSynced && e.Group == g })
}

// expectMessages reads entries of g from cl until it has the messages
// (not events) with bodies want, in order, each once.
func expectMessages(t *testing.T, cl *client.Client, g string, want []string) {
	t.Helper()
	var last uint64
	got := 0
	for got < len(want) {
		m := groupEntry(t, cl, g)
		if m.Seq <= last {
			t.Fatalf("%s: entry %d after %d (repeated or out of order)", cl.User(), m.Seq, last)
		}
		last = m.Seq
		if m.Kind != "" {
			continue
		}
		if string(m.Body) != want[got] {
			t.Fatalf("%s: message %d is %q, want %q", cl.User(), got, m.Body, want[got])
		}
		got++
	}
}

// groupLeaderIndex is the index of the node leading group g's partition,
// once the leaderships have settled after the start.
func groupLeaderIndex(t *testing.T, c *clustertest.Cluster, g string) int {
	t.Helper()
	return stableLeader(t, c, hlr.GroupKey(g))
}

func waitInterest(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestGroups_FanOutAcrossThreeNodes: six members on three nodes; every
// message reaches every member's device once and in order; the leader
// forwards to each node once (interest per node); a kicked member gets its
// kick and nothing more; once the last member on a node leaves, that
// node's interest is dropped at the leader.
func TestGroups_FanOutAcrossThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: groupLimits})
	c.WaitLeaders(30 * time.Second)
	var m []*client.Client
	for i := 0; i < 6; i++ {
		m = append(m, account(t, c, i%3, fmt.Sprintf("member%d", i)))
	}
	const g = "team"
	if err := m[0].GroupCreate(ctx30(), g, client.GroupSettings{Open: boolp(true)}); err != nil {
		t.Fatal(err)
	}
	groupSynced(t, m[0], g)
	for _, cl := range m[1:] {
		if err := cl.GroupJoin(ctx30(), g); err != nil {
			t.Fatalf("%s joins: %v", cl.User(), err)
		}
		groupSynced(t, cl, g)
	}
	leader := groupLeaderIndex(t, c, g)
	waitInterest(t, "three interested nodes", func() bool {
		_, nodes := c.Node(leader).GroupInterest(g)
		return nodes == 3
	})
	var want []string
	for k := 0; k < 20; k++ {
		body := fmt.Sprintf("msg %d", k)
		if _, err := m[1+k%2].GroupSend(ctx30(), g, []byte(body)); err != nil {
			t.Fatalf("send %d: %v", k, err)
		}
		want = append(want, body)
	}
	for _, cl := range m {
		expectMessages(t, cl, g, want)
	}

	// Kick member4 (on node 1): its kick arrives, then nothing.
	if err := m[0].GroupKick(ctx30(), g, "member4"); err != nil {
		t.Fatal(err)
	}
	for {
		e := groupEntry(t, m[4], g)
		if e.Kind == client.GroupKicked && e.Subject == "member4" {
			break
		}
	}
	if _, err := m[1].GroupSend(ctx30(), g, []byte("after the kick")); err != nil {
		t.Fatal(err)
	}
	expectMessages(t, m[3], g, []string{"after the kick"}) // node 0's member has it
	select {
	case e := <-m[4].Events():
		if e.Kind == client.EventGroupMessage {
			t.Fatalf("the kicked member got %+v", e.GroupMessage)
		}
	case <-time.After(500 * time.Millisecond):
	}

	// Node 2 holds member2 and member5: once both leave, the leader
	// forgets node 2's interest, and node 2 has no local member of g.
	for _, i := range []int{2, 5} {
		if err := m[i].GroupLeave(ctx30(), g); err != nil {
			t.Fatalf("member%d leaves: %v", i, err)
		}
	}
	waitInterest(t, "node 2's interest dropped", func() bool {
		local, _ := c.Node(2).GroupInterest(g)
		_, nodes := c.Node(leader).GroupInterest(g)
		return local == 0 && nodes == 2
	})
}

// TestGroups_OfflineMemberCatchesUpInOrder: a member whose device is
// offline while thirty messages are sent gets them all, in order, once,
// when it logs in again on another node.
func TestGroups_OfflineMemberCatchesUpInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: groupLimits})
	c.WaitLeaders(30 * time.Second)
	a := account(t, c, 0, "alice")
	b := account(t, c, 1, "bob")
	const g = "club"
	if err := a.GroupCreate(ctx30(), g, client.GroupSettings{}); err != nil {
		t.Fatal(err)
	}
	if err := a.GroupInvite(ctx30(), g, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := b.GroupJoin(ctx30(), g); err != nil {
		t.Fatal(err)
	}
	groupSynced(t, b, g)
	cursors := b.GroupCursors()
	b.Close()
	var want []string
	for k := 0; k < 30; k++ {
		body := fmt.Sprintf("while away %d", k)
		if _, err := a.GroupSend(ctx30(), g, []byte(body)); err != nil {
			t.Fatal(err)
		}
		want = append(want, body)
	}
	b2 := dial(t, c, 2, "bob-dev")
	b2.SetGroupCursors(cursors)
	if err := b2.Login(ctx30(), "bob", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	expectMessages(t, b2, g, want)
	// And it is live again afterwards.
	if _, err := a.GroupSend(ctx30(), g, []byte("back")); err != nil {
		t.Fatal(err)
	}
	expectMessages(t, b2, g, []string{"back"})
}

// TestGroups_LostForwardsAreRepaired: the member's node discards every
// group forward; the leader's notices make its session catch up, so every
// message arrives — the last one too — in order, once.
func TestGroups_LostForwardsAreRepaired(t *testing.T) {
	faults := newOneWayFaults()
	c := faultyCluster(t, faults, func(cfg *node.Config) {
		cfg.VLR.GroupSendRate, cfg.VLR.GroupSendBurst = 100000, 100000
		cfg.VLR.GroupOpRate, cfg.VLR.GroupOpBurst = 100000, 100000
		// Refreshes of interest answer the heads too: far apart, so that
		// only the leader's notices can repair within the test.
		cfg.Groups.RefreshInterval, cfg.Groups.InterestTTL = time.Minute, 3*time.Minute
	})
	c.WaitLeaders(30 * time.Second)
	const g = "lossy"
	leader := groupLeaderIndex(t, c, g)
	other := (leader + 1) % 3
	a := account(t, c, leader, "alice")
	b := account(t, c, other, "bob")
	if err := a.GroupCreate(ctx30(), g, client.GroupSettings{Open: boolp(true)}); err != nil {
		t.Fatal(err)
	}
	if err := b.GroupJoin(ctx30(), g); err != nil {
		t.Fatal(err)
	}
	groupSynced(t, b, g)
	waitInterest(t, "bob's node registered", func() bool {
		_, nodes := c.Node(leader).GroupInterest(g)
		return nodes == 2
	})
	faults.set(other, "group_deliver", 1)
	var want []string
	for k := 0; k < 10; k++ {
		body := fmt.Sprintf("lost %d", k)
		if _, err := a.GroupSend(ctx30(), g, []byte(body)); err != nil {
			t.Fatal(err)
		}
		want = append(want, body)
	}
	start := time.Now()
	expectMessages(t, b, g, want)
	t.Logf("all %d messages arrived %v after the last send, every forward dropped", len(want), time.Since(start).Round(time.Millisecond))
}

func boolp(b bool) *bool { return &b }

// TestGroups_LeaveAfterLostForwards: a member's device on a node that
// loses every group forward misses the last messages, then the member
// leaves from a device on another node. The repair must still bring the
// missed messages and the member's own left entry, in order, and then
// nothing: a former member reads its membership through its end (found
// by make sim SIM_SEED=2, where such devices never got either).
func TestGroups_LeaveAfterLostForwards(t *testing.T) {
	faults := newOneWayFaults()
	c := faultyCluster(t, faults, func(cfg *node.Config) {
		cfg.VLR.GroupSendRate, cfg.VLR.GroupSendBurst = 100000, 100000
		cfg.VLR.GroupOpRate, cfg.VLR.GroupOpBurst = 100000, 100000
		cfg.Groups.RefreshInterval, cfg.Groups.InterestTTL = time.Minute, 3*time.Minute
	})
	c.WaitLeaders(30 * time.Second)
	const g = "leavers"
	leader := groupLeaderIndex(t, c, g)
	other := (leader + 1) % 3
	a := account(t, c, leader, "alice")
	b := account(t, c, other, "bob") // bob's device on the lossy node
	if err := a.GroupCreate(ctx30(), g, client.GroupSettings{Open: boolp(true)}); err != nil {
		t.Fatal(err)
	}
	if err := b.GroupJoin(ctx30(), g); err != nil {
		t.Fatal(err)
	}
	groupSynced(t, b, g)
	waitInterest(t, "bob's node registered", func() bool {
		_, nodes := c.Node(leader).GroupInterest(g)
		return nodes == 2
	})
	b2 := dial(t, c, leader, "bob-laptop") // bob's second device, on the leader's node
	if err := b2.Login(ctx30(), "bob", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	groupSynced(t, b2, g)
	faults.set(other, "group_deliver", 1)
	faults.set(other, "group_notice", 1)
	var want []string
	for k := 0; k < 3; k++ {
		body := fmt.Sprintf("missed %d", k)
		if _, err := a.GroupSend(ctx30(), g, []byte(body)); err != nil {
			t.Fatal(err)
		}
		want = append(want, body)
	}
	if err := b2.GroupLeave(ctx30(), g); err != nil {
		t.Fatal(err)
	}
	faults.set(other, "group_notice", 0) // the repair may reach the node again
	expectMessages(t, b, g, want)
	for {
		e := groupEntry(t, b, g)
		if e.Kind == client.GroupLeft && e.From == "bob" {
			break
		}
		if e.Kind == "" {
			t.Fatalf("bob's device got a message after its missed ones: %+v", e)
		}
	}
	if _, err := a.GroupSend(ctx30(), g, []byte("after bob left")); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-b.Events():
		if e.Kind == client.EventGroupMessage {
			t.Fatalf("bob's device got %+v after its left entry", e.GroupMessage)
		}
	case <-time.After(time.Second):
	}
}
