package sim

import (
	"bytes"
	"strings"
	"testing"
)

// TestReportSchedules: the schedule lines are in the table and the HTML
// checks, and a schedule violation fails the run.
func TestReportSchedules(t *testing.T) {
	rep := &Report{Accounts: AccountResult{Linearizable: "ok"}}
	rep.Schedules = checkScheds(cleanScheds())
	if !rep.OK() {
		t.Fatalf("a clean schedule history fails the run: %v", rep.Schedules.Findings)
	}
	var b bytes.Buffer
	rep.WriteTable(&b)
	for _, want := range []string{"  schedules    7 scheduled, 0 of them to groups (acked 6, unknown 1, refused 0)", "cancel_ok=1 cancel_ok_after_fire=1", "owed 4, fired 4 (1 with an edited body)",
		"sent p50 100 ms", "lost=0 fired_twice=0 cancelled_fired=0 early=0 (slack 50 ms)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	bad := *rep
	bad.Schedules = checkScheds(mutate(func(h *History) {
		h.Devices[1].Delivered = append(h.Devices[1].Delivered, fire("k2", 0, 602, 6, sec(4.1), sec(20)))
	}))
	if bad.OK() {
		t.Fatal("a cancelled schedule that fired passes")
	}
	b.Reset()
	bad.WriteTable(&b)
	if !strings.Contains(b.String(), "cancelled_fired=1") || !strings.Contains(b.String(), "sched_cancelled_fired") {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	if err := bad.RenderHTML(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<td>scheduled messages</td><td class=\"bad\">FAILED</td>") {
		t.Error("the HTML checks do not show the schedule check failed")
	}
}
