package node_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/wire"
)

// Scheduled messages over real TCP (scheduler.go, hlr/schedule.go).

// schedLimits allows fire times from 1 s ahead and small per-conversation
// and per-user bounds.
func schedLimits(i int, cfg *node.Config) {
	fastSends(i, cfg)
	cfg.VLR.Schedule.MinAhead = time.Second
	cfg.VLR.Schedule.PerConversation, cfg.VLR.Schedule.PerUser = 2, 3
}

// scheduleEvent waits for a push about schedule id on cl with the event.
func scheduleEvent(t *testing.T, cl *client.Client, id uint64, event string) client.Scheduled {
	t.Helper()
	e := waitEvent(t, cl, func(e client.Event) bool {
		return e.Kind == client.EventSchedule && e.Schedule.ID == id && e.ScheduleEvent == event
	})
	return e.Schedule
}

// noMessage fails if an inbox message reaches cl within d.
func noMessage(t *testing.T, cl *client.Client, d time.Duration) {
	t.Helper()
	quiet := time.After(d)
	for {
		select {
		case e := <-cl.Events():
			if e.Kind == client.EventMessage {
				t.Fatalf("%s: unexpected message %q", cl.User(), e.Message.Body)
			}
		case <-quiet:
			return
		}
	}
}

// nextInbox waits for the next inbox message on cl.
func nextInbox(t *testing.T, cl *client.Client) client.Message {
	t.Helper()
	return waitEvent(t, cl, func(e client.Event) bool { return e.Kind == client.EventMessage }).Message
}

// TestScheduled_FireCancelEditRefusalAndLimits: a scheduled message fires
// once, not before its time, from the scheduler's device; a cancelled one
// never fires; an edit moves the fire time; the sender's other device
// hears of every change; a fire refused because the friendship ended is
// reported failed; each limit is refused with its own code.
func TestScheduled_FireCancelEditRefusalAndLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: schedLimits})
	c.WaitLeaders(30 * time.Second)
	ann := account(t, c, 0, "ann")
	bob := account(t, c, 1, "bob")
	cat := account(t, c, 2, "cat")
	dan := account(t, c, 1, "dan")
	befriend(t, ann, bob)
	befriend(t, ann, cat)
	befriend(t, ann, dan)
	annTab := dial(t, c, 2, "ann-tab")
	if err := annTab.Login(ctx30(), "ann", "pw-ann"); err != nil {
		t.Fatal(err)
	}
	stableLeader(t, c, "ann")

	one, err := ann.ScheduleIn(ctx30(), "bob", []byte("one"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if one.State != client.SchedPending || one.ID == 0 {
		t.Fatalf("scheduled: %+v", one)
	}
	scheduleEvent(t, annTab, one.ID, "created")
	gone, err := ann.ScheduleIn(ctx30(), "bob", []byte("cancelled"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := ann.ScheduleCancel(ctx30(), gone.ID); err != nil || s.State != client.SchedCancelled {
		t.Fatalf("cancel: %+v %v", s, err)
	}
	scheduleEvent(t, annTab, gone.ID, "cancelled")
	moved, err := ann.ScheduleIn(ctx30(), "bob", []byte("edited"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	newFire := moved.Fire.Add(3 * time.Second)
	if s, err := ann.ScheduleEdit(ctx30(), moved.ID, nil, newFire); err != nil || !s.Fire.Equal(newFire) {
		t.Fatalf("edit: %+v %v", s, err)
	}

	m := nextInbox(t, bob)
	if string(m.Body) != "one" || m.From != "ann" || m.FromDevice != hlr.SchedDevice {
		t.Fatalf("first message: %+v", m)
	}
	if got := time.Now(); got.Before(one.Fire) {
		t.Fatalf("fired %v before its time", one.Fire.Sub(got))
	}
	fired := scheduleEvent(t, ann, one.ID, "fired")
	if fired.MsgID != m.ID || fired.Seq != m.Seq || fired.State != client.SchedFired {
		t.Fatalf("fired push %+v for message %+v", fired, m)
	}
	scheduleEvent(t, annTab, one.ID, "fired")
	m = nextInbox(t, bob)
	if string(m.Body) != "edited" {
		t.Fatalf("second message: %q (the cancelled one fired?)", m.Body)
	}
	if got := time.Now(); got.Before(newFire) {
		t.Fatalf("the edited one fired %v before its new time", newFire.Sub(got))
	}
	if late := time.Since(newFire); late > 3*time.Second {
		t.Fatalf("the edited one fired %v late", late)
	}
	scheduleEvent(t, ann, moved.ID, "fired")
	if s, err := ann.ScheduleGet(ctx30(), moved.ID); err != nil || s.State != client.SchedFired {
		t.Fatalf("get after the fire: %+v %v", s, err)
	}
	if s, err := ann.ScheduleGet(ctx30(), gone.ID); err != nil || s.State != client.SchedCancelled {
		t.Fatalf("get of the cancelled one: %+v %v, want it listed as cancelled", s, err)
	}

	// A refusal at fire time: cat ends the friendship before the fire.
	refused, err := ann.ScheduleIn(ctx30(), "cat", []byte("too late"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.FriendRemove(ctx30(), "ann"); err != nil {
		t.Fatal(err)
	}
	failed := scheduleEvent(t, ann, refused.ID, "failed")
	if failed.State != client.SchedFailed || failed.Reason != hlr.ReasonRefused {
		t.Fatalf("refused fire: %+v", failed)
	}

	// To a group: it lands in the group's stream, from the sender.
	open := true
	if err := ann.GroupCreate(ctx30(), "crew", client.GroupSettings{Open: &open}); err != nil {
		t.Fatal(err)
	}
	if err := bob.GroupJoin(ctx30(), "crew"); err != nil {
		t.Fatal(err)
	}
	groupSynced(t, bob, "crew")
	gs, err := ann.ScheduleGroupIn(ctx30(), "crew", []byte("to the crew"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for {
		e := groupEntry(t, bob, "crew")
		if e.Kind != "" {
			continue
		}
		if string(e.Body) != "to the crew" || e.From != "ann" || e.FromDevice != hlr.SchedDevice {
			t.Fatalf("group message: %+v", e)
		}
		break
	}
	scheduleEvent(t, ann, gs.ID, "fired")

	// The limits, each with its code.
	if _, err := ann.ScheduleIn(ctx30(), "bob", []byte("x"), 100*time.Millisecond); !errors.Is(err, client.ErrSchedTooSoon) {
		t.Fatalf("too soon: %v", err)
	}
	if _, err := ann.ScheduleIn(ctx30(), "bob", []byte("x"), 367*24*time.Hour); !errors.Is(err, client.ErrSchedTooFar) {
		t.Fatalf("too far: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := ann.ScheduleIn(ctx30(), "bob", []byte("x"), time.Hour); err != nil {
			t.Fatalf("pending %d: %v", i, err)
		}
	}
	if _, err := ann.ScheduleIn(ctx30(), "bob", []byte("x"), time.Hour); !errors.Is(err, client.ErrSchedConvFull) {
		t.Fatalf("third to bob: %v", err)
	}
	if _, err := ann.ScheduleIn(ctx30(), "dan", []byte("x"), time.Hour); err != nil {
		t.Fatalf("first to dan: %v", err)
	}
	if _, err := ann.ScheduleIn(ctx30(), "dan", []byte("x"), time.Hour); !errors.Is(err, client.ErrSchedUserFull) {
		t.Fatalf("fourth pending: %v", err)
	}
	if _, err := ann.ScheduleIn(ctx30(), "stranger", []byte("x"), time.Hour); !errors.Is(err, client.ErrRefused) {
		t.Fatalf("to a stranger: %v", err)
	}
	list, err := ann.ScheduleList(ctx30())
	if err != nil {
		t.Fatal(err)
	}
	pending, cancelled := 0, 0
	for i, s := range list {
		if i > 0 && s.Fire.Before(list[i-1].Fire) {
			t.Fatalf("list out of fire time order at %d", i)
		}
		switch s.State {
		case client.SchedPending:
			pending++
		case client.SchedCancelled:
			cancelled++
		}
	}
	// The cancelled one is listed too, until it is forgotten.
	if len(list) != 8 || pending != 3 || cancelled != 1 {
		t.Fatalf("list: %d items, %d pending, %d cancelled; want 8, 3 and 1", len(list), pending, cancelled)
	}
	// Nothing else reached bob: the cancelled one never fired.
	noMessage(t, bob, 500*time.Millisecond)
}

// TestScheduled_SurvivesKillOfEveryNode: a pending schedule survives the
// kill of every node and fires once after the cluster is back.
func TestScheduled_SurvivesKillOfEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: schedLimits})
	c.WaitLeaders(30 * time.Second)
	ann := account(t, c, 0, "ann")
	bob := account(t, c, 1, "bob")
	befriend(t, ann, bob)
	stableLeader(t, c, "ann")
	s, err := ann.ScheduleIn(ctx30(), "bob", []byte("after the outage"), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ann.Close()
	bob.Close()
	for i := 0; i < 3; i++ {
		c.Kill(i)
	}
	time.Sleep(time.Until(s.Fire) + time.Second) // due while everything is down
	c.RestartAll()
	c.WaitLeaders(30 * time.Second)
	bob2 := dial(t, c, 2, "bob-dev2")
	if err := bob2.Login(ctx30(), "bob", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	m := nextInbox(t, bob2)
	if string(m.Body) != "after the outage" || m.FromDevice != hlr.SchedDevice {
		t.Fatalf("message: %+v", m)
	}
	ann2 := dial(t, c, 1, "ann-dev2")
	if err := ann2.Login(ctx30(), "ann", "pw-ann"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := ann2.ScheduleGet(ctx30(), s.ID)
		if err == nil && got.State == client.SchedFired {
			if got.MsgID != m.ID {
				t.Fatalf("fired as %d, delivered %d", got.MsgID, m.ID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recorded fired: %+v %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	noMessage(t, bob2, time.Second)
}

// TestScheduled_KillLeaderJustBeforeFire: the leader of the sender's
// partition is killed just before the fire time; the new leader re-arms
// from the stored schedules and the message arrives once, recorded fired.
func TestScheduled_KillLeaderJustBeforeFire(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: schedLimits})
	c.WaitLeaders(30 * time.Second)
	// ann is logged in at a node that does not lead her partition, so
	// her client survives the kill.
	leader := stableLeader(t, c, "ann")
	ann := account(t, c, (leader+1)%3, "ann")
	bob := account(t, c, (leader+2)%3, "bob")
	befriend(t, ann, bob)
	s, err := ann.ScheduleIn(ctx30(), "bob", []byte("across the failover"), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(s.Fire) - 200*time.Millisecond)
	c.Kill(leader)
	m := nextInbox(t, bob)
	if string(m.Body) != "across the failover" {
		t.Fatalf("message %+v", m)
	}
	fired := scheduleEvent(t, ann, s.ID, "fired")
	if fired.MsgID != m.ID {
		t.Fatalf("recorded fired as %d, delivered %d", fired.MsgID, m.ID)
	}
	noMessage(t, bob, 2*time.Second)
}

// TestScheduled_TooLateAfterAnOutageFails: a schedule that comes due
// more than MaxLate before the cluster is back fails with reason "late",
// and is not delivered.
func TestScheduled_TooLateAfterAnOutageFails(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: func(i int, cfg *node.Config) {
		schedLimits(i, cfg)
		cfg.Scheduler.MaxLate = time.Second
	}})
	c.WaitLeaders(30 * time.Second)
	ann := account(t, c, 0, "ann")
	bob := account(t, c, 1, "bob")
	befriend(t, ann, bob)
	stableLeader(t, c, "ann")
	s, err := ann.ScheduleIn(ctx30(), "bob", []byte("stale"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ann.Close()
	bob.Close()
	for i := 0; i < 3; i++ {
		c.Kill(i)
	}
	time.Sleep(time.Until(s.Fire) + 2*time.Second)
	c.RestartAll()
	c.WaitLeaders(30 * time.Second)
	ann2 := dial(t, c, 0, "ann-dev2")
	if err := ann2.Login(ctx30(), "ann", "pw-ann"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, err := ann2.ScheduleGet(ctx30(), s.ID)
		if err == nil && got.State == client.SchedFailed {
			if got.Reason != hlr.ReasonLate {
				t.Fatalf("failed for %q", got.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not failed late: %+v %v", got, err)
		}
	}
	bob2 := dial(t, c, 1, "bob-dev2")
	if err := bob2.Login(ctx30(), "bob", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	noMessage(t, bob2, 2*time.Second)
}

// TestScheduled_MinimumAheadAlwaysAcceptedAndCancelAfterFireRefused: a
// time given as in_ms equal to the minimum is accepted every time (the
// home register's clock is later than the receipt by the request's
// transit; it was refused now and then); a cancel that comes after the
// fire is refused with schedule_not_pending rather than answered
// "cancelled" for a message that was delivered; a cancel retried answers
// the cancelled schedule again.
func TestScheduled_MinimumAheadAlwaysAcceptedAndCancelAfterFireRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: func(i int, cfg *node.Config) {
		fastSends(i, cfg)
		cfg.VLR.Schedule.MinAhead = time.Second
	}})
	c.WaitLeaders(30 * time.Second)
	ann := account(t, c, 0, "ann")
	bob := account(t, c, 1, "bob")
	befriend(t, ann, bob)
	var last client.Scheduled
	for i := 0; i < 20; i++ {
		s, err := ann.ScheduleIn(ctx30(), "bob", []byte(fmt.Sprint("at the minimum ", i)), time.Second)
		if err != nil {
			t.Fatalf("schedule %d exactly the minimum ahead: %v", i, err)
		}
		last = s
	}
	for i := 0; i < 20; i++ {
		nextInbox(t, bob)
	}
	fired := scheduleEvent(t, ann, last.ID, "fired")
	if _, err := ann.ScheduleCancel(ctx30(), fired.ID); client.CodeOf(err) != wire.CodeSchedNotPending {
		t.Fatalf("cancel after the fire: %v, want schedule_not_pending", err)
	}
	if got, err := ann.ScheduleGet(ctx30(), fired.ID); err != nil || got.State != client.SchedFired {
		t.Fatalf("after the refused cancel: %+v %v, want it fired", got, err)
	}
	s, err := ann.ScheduleIn(ctx30(), "bob", []byte("cancelled twice"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if got, err := ann.ScheduleCancel(ctx30(), s.ID); err != nil || got.State != client.SchedCancelled || got.ID != s.ID {
			t.Fatalf("cancel %d: %+v %v", i+1, got, err)
		}
	}
	noMessage(t, bob, 6*time.Second)
}
