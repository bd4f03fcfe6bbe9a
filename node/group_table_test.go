package node

import (
	"reflect"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
)

var testRepair = repairTiming{First: 250 * time.Millisecond, FastNotices: 3, Fast: 250 * time.Millisecond, Max: 2 * time.Second}

func TestGroupTable_ForwardsOncePerNodeToMembersOnly(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := newGroupTable(10*time.Second, testRepair)
	tb.register("g/team", "n1", []string{"alice", "bob"}, now)
	tb.register("g/team", "n2", []string{"carol"}, now)
	tb.register("g/team", "n3", []string{"dave"}, now)
	// dave was kicked: the entry's member set no longer has him, so n3 gets
	// nothing, whatever its registration says.
	got := tb.targets("g/team", 5, hlr.MemberSetOf("alice", "bob", "carol"), now)
	want := []groupTarget{{"n1", []string{"alice", "bob"}}, {"n2", []string{"carol"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("targets %+v, want %+v", got, want)
	}
	if tb.targets("g/other", 1, hlr.MemberSetOf("alice"), now) != nil {
		t.Fatal("a group nobody registered has targets")
	}
	// Interest off: the node's last member went.
	tb.register("g/team", "n2", nil, now)
	if got := tb.targets("g/team", 6, hlr.MemberSetOf("alice", "carol"), now); len(got) != 1 || got[0].node != "n1" {
		t.Fatalf("after n2 dropped its interest: %+v", got)
	}
	if tb.interested("g/team") != 2 {
		t.Fatalf("interested %d", tb.interested("g/team"))
	}
}

func TestGroupTable_UnacknowledgedForwardsAreNoticedThenBackOff(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := newGroupTable(time.Minute, testRepair)
	tb.register("g/a", "n1", []string{"u"}, now)
	tb.targets("g/a", 7, hlr.MemberSetOf("u"), now)
	if n := tb.due(now.Add(100 * time.Millisecond)); len(n) != 0 {
		t.Fatalf("noticed before First: %+v", n)
	}
	var at []time.Duration
	for d := time.Duration(0); d < 20*time.Second; d += 50 * time.Millisecond {
		for _, n := range tb.due(now.Add(d)) {
			if n != (groupNotice{node: "n1", group: "g/a", head: 7}) {
				t.Fatalf("notice %+v", n)
			}
			at = append(at, d)
		}
	}
	if len(at) < 6 || at[0] != 250*time.Millisecond || at[1]-at[0] != 250*time.Millisecond {
		t.Fatalf("notice times %v", at)
	}
	last := at[len(at)-1] - at[len(at)-2]
	if last != 2*time.Second {
		t.Fatalf("notices back off to %v, want 2s (times %v)", last, at)
	}
	// The acknowledgement stops them; a newer forward starts them again.
	tb.ack("g/a", "n1", 7)
	if n := tb.due(now.Add(time.Hour)); len(n) != 0 {
		t.Fatalf("noticed after the ack: %+v", n)
	}
}

func TestGroupTable_SilentNodesAreForgotten(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := newGroupTable(10*time.Second, testRepair)
	tb.register("g/a", "n1", []string{"u"}, now)
	tb.register("g/a", "n2", []string{"v"}, now.Add(8*time.Second))
	tb.due(now.Add(11 * time.Second))
	if got := tb.targets("g/a", 1, hlr.MemberSetOf("u", "v"), now.Add(11*time.Second)); len(got) != 1 || got[0].node != "n2" {
		t.Fatalf("after n1 went silent: %+v", got)
	}
	tb.dropNode("n2")
	if tb.interested("g/a") != 0 {
		t.Fatal("dropNode kept the interest")
	}
}
