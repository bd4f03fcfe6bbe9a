package sim

import (
	"bytes"
	"strings"
	"testing"
)

// TestReportGroups: the groups lines are in the table, and a group
// violation (or group delivery beyond its bound) fails the run.
func TestReportGroups(t *testing.T) {
	rep := &Report{Accounts: AccountResult{Linearizable: "ok"}}
	rep.Groups = CheckGroups(groupHistory(), DefaultDeliveryBound)
	if !rep.OK() {
		t.Fatalf("a clean group history fails the run: %v", rep.Groups.Findings)
	}
	var b bytes.Buffer
	rep.WriteTable(&b)
	for _, want := range []string{"  groups       1 groups, 14 entries: sends 7 (acked 4", "join_ok=3", "gaps=0 outside_membership=0", "delivery bound 2000 ms: 11"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	bad := *rep
	bad.Groups.Gaps = 1
	if bad.OK() {
		t.Fatal("a gap passes")
	}
	bad = *rep
	bad.Groups.Delivery.Missing = 1
	if bad.OK() {
		t.Fatal("a group message never delivered to a following device passes")
	}
	if none := (&Report{Accounts: AccountResult{Linearizable: "ok"}}); !none.OK() {
		t.Fatal("a run without groups fails")
	}
}
