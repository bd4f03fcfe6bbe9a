package sim

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// writeSchedules prints the scheduled-message lines of the report (none
// when the run made none).
func (rep *Report) writeSchedules(w io.Writer) {
	s := rep.Schedules
	if s.Schedules == 0 {
		return
	}
	var ops []string
	for k, v := range s.Ops {
		ops = append(ops, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", "_"), v))
	}
	sort.Strings(ops)
	fmt.Fprintf(w, "  schedules    %d scheduled, %d of them to groups (acked %d, unknown %d, refused %d); changes %s\n",
		s.Schedules, s.ToGroups, s.Acked, s.Unknown, s.Refused, strings.Join(ops, " "))
	fmt.Fprintf(w, "               owed %d, fired %d (%d with an edited body), not checked %d; cancelled while pending %d; either allowed %d (an outcome unknown, or a group sender's membership changed; fired %d)\n",
		s.Owed, s.Fired, s.Edited, s.Unchecked, s.Cancelled, s.Maybe, s.MaybeFired)
	fmt.Fprintf(w, "               lateness after the fire time: sent p50 %.0f ms  p99 %.0f ms  max %.0f ms; first received p50 %.0f ms  p99 %.0f ms  max %.0f ms\n",
		s.LateP50ms, s.LateP99ms, s.LateMaxms, s.RecvP50ms, s.RecvP99ms, s.RecvMaxms)
	fmt.Fprintf(w, "               invariants lost=%d fired_twice=%d cancelled_fired=%d early=%d (slack %.0f ms) wrong_body=%d mismatch=%d unexpected=%d corrupted=%d\n",
		s.Lost, s.FiredTwice, s.CancelledFired, s.Early, s.SlackMs, s.WrongBody, s.Mismatch, s.Unexpected, s.Corrupted)
	writeFindings(w, s.Findings, 20)
}
