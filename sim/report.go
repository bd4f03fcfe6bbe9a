package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// OK reports whether the run found no violation: the message invariants
// hold, the account operations are not shown to be non-linearizable (a
// check that ran out of time is reported as undecided, not failed), and
// presence converged once the faults were over; the group and the
// scheduled-message invariants hold.
func (rep *Report) OK() bool {
	return rep.Result.OK() && rep.Accounts.Linearizable != "illegal" && rep.Presence.Unconverged == 0 &&
		rep.Delivery.Held() && rep.Groups.OK() && rep.Schedules.OK() && rep.Revocation.Violating == 0 && rep.SessionEnds.Invalid == 0 &&
		rep.backlogsOK() && rep.pauseOK()
}

// backlogsOK: every backlog sync completed.
func (rep *Report) backlogsOK() bool {
	for _, b := range rep.Backlogs {
		if b.TookS < 0 {
			return false
		}
	}
	return true
}

// pauseOK: no pause window's worst send wait exceeds the limit (if any).
func (rep *Report) pauseOK() bool {
	return rep.PauseWaitLimitMs == 0 || rep.PauseWorstMs <= rep.PauseWaitLimitMs
}

// describeLoad fills in what the load was.
func (rep *Report) describeLoad(r *runner, h History) {
	rep.Users = len(r.users)
	rep.DevicesN = len(r.devs)
	for _, u := range r.users {
		rep.MaxDevices = max(rep.MaxDevices, len(u.devs))
		if u.quiet {
			rep.QuietUsers++
		}
	}
	total, n := 0, 0
	for _, s := range h.Sends {
		total += s.Size
		n++
		rep.MaxBodySeen = max(rep.MaxBodySeen, s.Size)
	}
	if n > 0 {
		rep.MeanBody = float64(total) / float64(n)
	}
}

// WriteTable prints the final report.
func (rep *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "\nroamsim %s seed=%d  run %.1fs\n", rep.Mode, rep.Seed, rep.DurationS)
	fmt.Fprintf(w, "  load         %d users (%d quiet), %d devices (up to %d per user), bodies mean %.0f bytes, max %d\n",
		rep.Users, rep.QuietUsers, rep.DevicesN, rep.MaxDevices, rep.MeanBody, rep.MaxBodySeen)
	fmt.Fprintf(w, "  throughput   %.1f sends/s, %.1f acked/s\n", rep.SendsPerS, rep.AckedPerS)
	fmt.Fprintf(w, "  send->ack    p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n", rep.P50ms, rep.P90ms, rep.P99ms, rep.Maxms)
	fmt.Fprintf(w, "  sends        %d: acked %d, unknown outcome %d (recovered %d, not delivered %d), refused %d\n",
		rep.Sends, rep.Acked, rep.Unknown, rep.Recovered, rep.UnknownMissing, rep.Refused)
	if len(rep.Errors) > 0 {
		var ks []string
		for k, v := range rep.Errors {
			ks = append(ks, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(ks)
		fmt.Fprintf(w, "  send errors  %s\n", strings.Join(ks, " "))
	}
	fmt.Fprintf(w, "  deliveries   %d\n", rep.Delivered)
	fmt.Fprintf(w, "  faults       %d (times since start; setup took %.1fs, the run began then)\n", len(rep.Faults), rep.RunStartS)
	for _, f := range rep.Faults {
		fmt.Fprintf(w, "    %7.1fs  %-10s %-22s %s\n", f.AtS, f.Kind, f.Target, f.Detail)
	}
	if len(rep.Impacts) > 0 {
		fmt.Fprintf(w, "  per node fault (window: until the next node fault, at most %v; stalled: acked after more than %v)\n", impactWindow, SlowAfter)
		fmt.Fprintf(w, "    %8s  %-10s %-10s %6s %6s %7s %10s %10s %10s\n", "at", "fault", "target", "sends", "failed", "stalled", "max wait", "ack gap", "recovered")
		for _, im := range rep.Impacts {
			fmt.Fprintf(w, "    %7.1fs  %-10s %-10s %6d %6d %7d %8.0fms %8.0fms %9.1fs\n",
				im.AtS, im.Kind, im.Target, im.Sends, im.Failed, im.Slow, im.MaxWaitMs, im.AckGapMs, im.RecoveredS)
			if ws := im.Worst; ws != nil && im.MaxWaitMs > float64(SlowAfter.Milliseconds()) {
				fmt.Fprintf(w, "               slowest: at %.1fs %s -> %s on %s (ended on %s) %s %s\n",
					ws.StartS, ws.FromDevice, ws.To, ws.NodeAt, ws.NodeEnd, ws.Outcome, ws.Err)
			}
		}
	}
	if rep.PauseWorstMs > 0 {
		limit := "target 4000 ms, not enforced"
		if rep.PauseWaitLimitMs > 0 {
			limit = fmt.Sprintf("limit %.0f ms", rep.PauseWaitLimitMs)
		}
		fmt.Fprintf(w, "  pause        worst wait of a send begun while a node was frozen %.0f ms (%s); over the pause windows, later sends included, %.0f ms\n",
			rep.PauseWorstMs, limit, rep.PauseWindowWorstMs)
	}
	if rep.Leaders != nil {
		fmt.Fprintf(w, "  leaders      %s\n", rep.Leaders)
	}
	for _, b := range rep.Backlogs {
		took := fmt.Sprintf("%.1fs", b.TookS)
		if b.TookS < 0 {
			took = "NEVER (sync did not complete within a minute)"
		}
		fmt.Fprintf(w, "  backlog      %s caught up on %d messages in %s\n", b.Device, b.Messages, took)
	}
	if len(rep.Incomplete) > 0 {
		fmt.Fprintf(w, "  not checked for completeness: %s\n", strings.Join(rep.Incomplete, ", "))
	}
	fmt.Fprintf(w, "  invariants   lost=%d duplicated=%d unexpected=%d order_violations=%d seq_mismatch=%d seq_conflicts=%d realtime_violations=%d corrupted=%d\n",
		rep.Lost, rep.Duplicated, rep.Unexpected, rep.OrderViolations, rep.SeqMismatch, rep.SeqConflicts, rep.RealtimeViolations, rep.Corrupted)
	for i, f := range rep.Findings {
		if i == 30 {
			fmt.Fprintf(w, "    ... %d more\n", len(rep.Findings)-30)
			break
		}
		fmt.Fprintf(w, "    %v\n", f)
	}
	d := rep.Delivery
	fmt.Fprintf(w, "  delivery     bound %.0f ms: %d (message, online device) pairs checked (%d after a cut-off), %d not held (device not online throughout)\n",
		d.BoundMs, d.Checked, d.Shifted, d.NotOnline)
	fmt.Fprintf(w, "               latency after the ack p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms;  violations %d (late %d, never %d)\n",
		d.P50ms, d.P90ms, d.P99ms, d.Maxms, d.Violations(), d.Late, d.Missing)
	writeFindings(w, d.Findings, 10)
	rep.writeGroups(w)
	rep.writeSchedules(w)
	v := rep.Revocation
	fmt.Fprintf(w, "  revocation   bound %.0f ms: %d sessions revoked %v; ended in time %d, late %d, never %d; violating %d (acked sends after %d, received after %d; attempts after %d)\n",
		v.BoundMs, v.Revoked, v.ByCause, v.EndedInTime, v.EndedLate, v.NeverEnded, v.Violating, v.AckedAfter, v.ReceivedAfter, v.AttemptsAfter)
	writeFindings(w, v.Findings, 10)
	e := rep.SessionEnds
	fmt.Fprintf(w, "  sessions     ends by code %v; session_invalid of unrevoked sessions %d; other unexplained ends %d\n", e.ByCode, e.Invalid, e.Unexplained)
	writeFindings(w, e.Findings, 10)
	writeFindings(w, e.Others, 5)
	if p := rep.Presence; p.Views > 0 {
		fmt.Fprintf(w, "  presence     %d of %d friend views showed the new status %.0f ms after the change (%.1fs after the last fault ended)\n",
			p.Converged, p.Views, p.AfterChangeMs, p.AfterLastFaultS)
		for _, m := range p.Missing {
			fmt.Fprintf(w, "    not converged: %s\n", m)
		}
	}
	if a := rep.Accounts; a.Ops > 0 {
		fmt.Fprintf(w, "  accounts     %d operations on %d accounts (%d with unknown outcome): linearizable %s (porcupine)\n",
			a.Ops, a.Users, a.Unknown, a.Linearizable)
		if rep.AccountsHTML != "" {
			fmt.Fprintf(w, "               porcupine's view: %s\n", rep.AccountsHTML)
		}
	}
	if rep.OK() {
		fmt.Fprintln(w, "  result       OK")
	} else {
		fmt.Fprintln(w, "  result       VIOLATIONS")
		if rep.Dir != "" {
			fmt.Fprintf(w, "  node logs and data kept in %s\n", rep.Dir)
		}
	}
}

func writeFindings(w io.Writer, fs []Finding, n int) {
	for i, f := range fs {
		if i == n {
			fmt.Fprintf(w, "    ... %d more listed in the JSON report\n", len(fs)-n)
			return
		}
		fmt.Fprintf(w, "    %v\n", f)
	}
}

// WriteJSON writes the report as JSON (findings included).
func (rep *Report) WriteJSON(path string) error {
	type out struct {
		*Report
		Findings []string `json:"findings"`
		OK       bool     `json:"ok"`
	}
	o := out{Report: rep, OK: rep.OK(), Findings: []string{}}
	for _, fs := range [][]Finding{rep.Findings, rep.Delivery.Findings, rep.Revocation.Findings, rep.SessionEnds.Findings, rep.Groups.Findings, rep.Groups.Delivery.Findings, rep.Schedules.Findings} {
		for _, f := range fs {
			o.Findings = append(o.Findings, f.String())
		}
	}
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteSVG writes the chart (SVG) to path.
func (rep *Report) WriteSVG(path string) error {
	return os.WriteFile(path, []byte(rep.SVG()), 0o644)
}

// SVG draws throughput (acked/s, sends/s) and latency (p50, p99 of
// send->ack, log scale) per second, with faults as vertical lines.
func (rep *Report) SVG() string {
	const W, H, L, R, T, gap = 960, 560, 60, 60, 30, 40
	ph := (H - T - 2*gap) / 2 // height of each panel
	n := len(rep.Series)
	if n < 2 {
		n = 2
	}
	x := func(t float64) float64 { return L + t*float64(W-L-R)/float64(n-1) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">roamsim %s seed %d: acked %d, lost %d, duplicated %d, unexpected %d, order violations %d</text>`+"\n",
		L, rep.Mode, rep.Seed, rep.Acked, rep.Lost, rep.Duplicated, rep.Unexpected, rep.OrderViolations)
	// Panel 1: throughput.
	top1 := float64(T + 10)
	maxTP := 1.0
	for _, s := range rep.Series {
		maxTP = math.Max(maxTP, float64(max(s.Sends, s.Acked)))
	}
	y1 := func(v float64) float64 { return top1 + float64(ph) - v/maxTP*float64(ph) }
	panel(&b, L, top1, W-L-R, ph, "per second", fmt.Sprintf("%.0f", maxTP), "0")
	line(&b, rep.Series, x, func(s Second) float64 { return y1(float64(s.Sends)) }, "#999", "sends started")
	line(&b, rep.Series, x, func(s Second) float64 { return y1(float64(s.Acked)) }, "#1f77b4", "acked")
	// Panel 2: latency, log scale from 0.1 ms.
	top2 := top1 + float64(ph+gap)
	maxL := 1.0
	for _, s := range rep.Series {
		maxL = math.Max(maxL, s.P99ms)
	}
	lo, hi := math.Log10(0.1), math.Log10(maxL*1.2)
	y2 := func(v float64) float64 {
		if v < 0.1 {
			v = 0.1
		}
		return top2 + float64(ph) - (math.Log10(v)-lo)/(hi-lo)*float64(ph)
	}
	panel(&b, L, top2, W-L-R, ph, "send→ack ms (log)", fmt.Sprintf("%.0f", maxL*1.2), "0.1")
	for _, g := range []float64{1, 10, 100, 1000, 10000} {
		if g < maxL*1.2 {
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", L, W-R, y2(g), y2(g), L-4, y2(g)+4, g)
		}
	}
	line(&b, rep.Series, x, func(s Second) float64 { return y2(s.P50ms) }, "#2ca02c", "p50")
	line(&b, rep.Series, x, func(s Second) float64 { return y2(s.P99ms) }, "#d62728", "p99")
	// Faults.
	for i, f := range rep.Faults {
		// fault times are on the run clock: shift to the series (run start).
		t := f.AtS - rep.RunStartS
		if t < 0 || t > float64(n-1) {
			continue
		}
		col := map[string]string{FaultKill: "#d62728", FaultPause: "#ff7f0e", FaultLeave: "#9467bd", FaultJoin: "#2ca02c", FaultDisconnect: "#bbb", FaultPartition: "#17becf", FaultGateDrop: "#e377c2", FaultGateReset: "#bcbd22", FaultClientReset: "#7f7f7f"}[f.Kind]
		if col == "" {
			col = "#8c564b"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="%s" stroke-dasharray="3,3"><title>%.1fs %s %s %s</title></line>`+"\n",
			x(t), x(t), top1, top2+float64(ph), col, f.AtS, f.Kind, f.Target, f.Detail)
		if f.Kind != FaultDisconnect {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" fill="%s" font-size="10">%s %s</text>`+"\n", x(t)+2, top1+12+float64(i%4)*11, col, f.Kind, f.Target)
		}
	}
	// Legend.
	for i, l := range [][2]string{{"#999", "sends started/s"}, {"#1f77b4", "acked/s"}, {"#2ca02c", "p50"}, {"#d62728", "p99"},
		{"#d62728", "kill"}, {"#ff7f0e", "pause"}, {"#9467bd", "leave"}, {"#2ca02c", "join"}, {"#17becf", "partition"}, {"#e377c2", "gatedrop"}, {"#bcbd22", "gatereset"}, {"#7f7f7f", "clientreset"}, {"#8c564b", "restart/heal"}, {"#bbb", "disconnect"}} {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">■ %s</text>`+"\n", L+i*62, H-22, l[0], l[1])
	}
	// Time axis.
	for t := 0; t < n; t += 10 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%ds</text>`+"\n", x(float64(t)), H-8, t)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func panel(b *strings.Builder, x0 int, y0 float64, w, h int, title, top, bottom string) {
	_ = w
	fmt.Fprintf(b, `<rect x="%d" y="%.0f" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", x0, y0, w, h)
	fmt.Fprintf(b, `<text x="%d" y="%.0f" text-anchor="end">%s</text><text x="%d" y="%.0f" text-anchor="end">%s</text>`+"\n", x0-4, y0+10, top, x0-4, y0+float64(h), bottom)
	fmt.Fprintf(b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", x0+4, y0+14, title)
}

func line(b *strings.Builder, s []Second, x func(float64) float64, y func(Second) float64, col, name string) {
	if len(s) == 0 {
		return
	}
	var pts []string
	for i, v := range s {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i)), y(v)))
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"><title>%s</title></polyline>`+"\n", col, strings.Join(pts, " "), name)
}
