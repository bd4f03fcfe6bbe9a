package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// writeGroups prints the groups lines of the report (none when the run
// had no groups).
func (rep *Report) writeGroups(w io.Writer) {
	g := rep.Groups
	if g.Groups == 0 {
		return
	}
	var ops []string
	for k, v := range g.Ops {
		ops = append(ops, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", "_"), v))
	}
	sort.Strings(ops)
	fmt.Fprintf(w, "  groups       %d groups, %d entries: sends %d (acked %d, unknown %d (recovered %d), refused %d), deliveries %d; membership %s\n",
		g.Groups, g.Entries, g.Sends, g.Acked, g.Unknown, g.Recovered, g.Refused, g.Delivered, strings.Join(ops, " "))
	fmt.Fprintf(w, "               invariants final_unread=%d not_in_final=%d lost=%d lost_entries=%d duplicated=%d order_violations=%d gaps=%d outside_membership=%d mismatch=%d unexpected=%d seq_conflicts=%d realtime_violations=%d corrupted=%d membership_mismatch=%d\n",
		g.FinalUnread, g.NotInFinal, g.Lost, g.LostEntries, g.Duplicated, g.Order, g.Gaps, g.OutsideMember, g.Mismatch, g.Unexpected, g.SeqConflicts, g.Realtime, g.Corrupted, g.MemberMismatch)
	writeFindings(w, g.Findings, 20)
	d := g.Delivery
	fmt.Fprintf(w, "               delivery bound %.0f ms: %d (message, following device) pairs checked (%d after a cut-off), %d not held; latency p50 %.1f ms  p99 %.1f ms  max %.1f ms; violations %d (late %d, never %d)\n",
		d.BoundMs, d.Checked, d.Shifted, d.NotOnline, d.P50ms, d.P99ms, d.Maxms, d.Violations(), d.Late, d.Missing)
	writeFindings(w, d.Findings, 10)
}

// writeGroupHistory writes the group part of h to path as JSON (for a
// run whose group check failed: what each device received, when it
// followed which group, the sends, the membership changes and the final
// reads).
func writeGroupHistory(h History, path string) error {
	type device struct {
		ID          string
		User        string
		Revoked     bool
		Complete    bool
		Online      []Stretch
		GroupOnline []GroupStretch
		Groups      []GroupEntry
	}
	out := struct {
		Sends   []GroupSend
		Ops     []MemberOp
		Finals  []GroupFinal
		Devices []device
		Cutoffs []Cutoff
	}{h.GroupSends, h.MemberOps, h.GroupFinals, nil, h.Cutoffs}
	for _, d := range h.Devices {
		if len(d.Groups) > 0 || len(d.GroupOnline) > 0 {
			out.Devices = append(out.Devices, device{d.ID, d.User, d.Revoked, d.GroupsComplete, d.Online, d.GroupOnline, d.Groups})
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
