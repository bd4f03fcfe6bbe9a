package sim

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"
)

// WriteHTML writes the report as one self-contained HTML page for people:
// the verdict, the checks, the load and latency figures, the faults and
// what each did, the chart (the SVG of WriteSVG, inline) and the full
// text report.
func (rep *Report) WriteHTML(path string) error {
	var b bytes.Buffer
	if err := rep.RenderHTML(&b); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// htmlCheck is one row of the checks table.
type htmlCheck struct {
	Name, Detail string
	OK           bool
}

// htmlRow is a figure and its value.
type htmlRow struct{ Name, Value string }

// RenderHTML writes the page to w.
func (rep *Report) RenderHTML(w io.Writer) error {
	var text bytes.Buffer
	rep.WriteTable(&text)
	d, v, e := rep.Delivery, rep.Revocation, rep.SessionEnds
	checks := []htmlCheck{
		{"messages", fmt.Sprintf("lost %d, duplicated %d, unexpected %d, order violations %d, seq conflicts %d, real-time violations %d, corrupted %d",
			rep.Lost, rep.Duplicated, rep.Unexpected, rep.OrderViolations, rep.SeqConflicts, rep.RealtimeViolations, rep.Corrupted), rep.Result.OK()},
		{"bounded delivery", fmt.Sprintf("bound %.0f ms, %d pairs checked; p99 %.1f ms; late %d, never %d", d.BoundMs, d.Checked, d.P99ms, d.Late, d.Missing), d.Held()},
		{"groups", fmt.Sprintf("%d groups, %d acked sends, %d deliveries; violations %d; delivery p99 %.1f ms, late %d, never %d",
			rep.Groups.Groups, rep.Groups.Acked, rep.Groups.Delivered, rep.Groups.Violations(), rep.Groups.Delivery.P99ms, rep.Groups.Delivery.Late, rep.Groups.Delivery.Missing), rep.Groups.OK()},
		{"scheduled messages", fmt.Sprintf("%d scheduled, %d owed, %d fired, %d cancelled while pending; violations %d; lateness p50 %.0f ms, p99 %.0f ms",
			rep.Schedules.Schedules, rep.Schedules.Owed, rep.Schedules.Fired, rep.Schedules.Cancelled, rep.Schedules.Violations(), rep.Schedules.LateP50ms, rep.Schedules.LateP99ms), rep.Schedules.OK()},
		{"bounded revocation", fmt.Sprintf("bound %.0f ms, %d revoked; violating %d", v.BoundMs, v.Revoked, v.Violating), v.Violating == 0},
		{"session ends", fmt.Sprintf("session_invalid of unrevoked sessions %d", e.Invalid), e.Invalid == 0},
		{"accounts", fmt.Sprintf("%d operations, linearizable: %s", rep.Accounts.Ops, rep.Accounts.Linearizable), rep.Accounts.Linearizable != "illegal"},
		{"presence", fmt.Sprintf("%d of %d views converged", rep.Presence.Converged, rep.Presence.Views), rep.Presence.Unconverged == 0},
		{"backlogs", fmt.Sprintf("%d synced", len(rep.Backlogs)), rep.backlogsOK()},
		{"pause waits", fmt.Sprintf("worst %.0f ms (limit %.0f ms, 0 = none)", rep.PauseWorstMs, rep.PauseWaitLimitMs), rep.pauseOK()},
	}
	figures := []htmlRow{
		{"mode, seed", fmt.Sprintf("%s, %d", rep.Mode, rep.Seed)},
		{"run", fmt.Sprintf("%.1f s (setup %.1f s before)", rep.DurationS, rep.RunStartS)},
		{"load", fmt.Sprintf("%d users (%d quiet), %d devices (up to %d per user), bodies mean %.0f B, max %d B",
			rep.Users, rep.QuietUsers, rep.DevicesN, rep.MaxDevices, rep.MeanBody, rep.MaxBodySeen)},
		{"throughput", fmt.Sprintf("%.1f sends/s, %.1f acked/s", rep.SendsPerS, rep.AckedPerS)},
		{"send→ack", fmt.Sprintf("p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms", rep.P50ms, rep.P90ms, rep.P99ms, rep.Maxms)},
		{"sends", fmt.Sprintf("%d: acked %d, unknown %d (recovered %d), refused %d", rep.Sends, rep.Acked, rep.Unknown, rep.Recovered, rep.Refused)},
		{"ack→delivery", fmt.Sprintf("p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms", d.P50ms, d.P90ms, d.P99ms, d.Maxms)},
		{"deliveries", fmt.Sprint(rep.Delivered)},
	}
	if rep.Leaders != nil {
		figures = append(figures, htmlRow{"leaders", rep.Leaders.String()})
	}
	if len(rep.Errors) > 0 {
		var ks []string
		for k, n := range rep.Errors {
			ks = append(ks, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(ks)
		figures = append(figures, htmlRow{"send errors", fmt.Sprint(ks)})
	}
	data := struct {
		R       *Report
		OK      bool
		Checks  []htmlCheck
		Figures []htmlRow
		SVG     template.HTML
		Text    string
	}{rep, rep.OK(), checks, figures, template.HTML(rep.SVG()), text.String()} // the SVG is ours, built from numbers and fault names
	return htmlPage.Execute(w, data)
}

var htmlPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>roamsim {{.R.Mode}} seed {{.R.Seed}}: {{if .OK}}OK{{else}}VIOLATIONS{{end}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:0 0 1.5em}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}
th{background:#f4f4f4}.ok{color:#fff;background:#2a7}.bad{color:#fff;background:#c33}
.verdict{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:bold}
pre{background:#f8f8f8;padding:1em;overflow-x:auto;font-size:12px}td.num{text-align:right}
</style></head><body>
<h1>roamsim {{.R.Mode}}, seed {{.R.Seed}} <span class="verdict {{if .OK}}ok{{else}}bad{{end}}">{{if .OK}}OK{{else}}VIOLATIONS{{end}}</span></h1>
<h2>Checks</h2>
<table><tr><th>check</th><th>result</th><th>detail</th></tr>
{{range .Checks}}<tr><td>{{.Name}}</td><td class="{{if .OK}}ok{{else}}bad{{end}}">{{if .OK}}held{{else}}FAILED{{end}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>
<h2>Figures</h2>
<table>{{range .Figures}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
<h2>Throughput and latency</h2>
{{.SVG}}
<h2>Faults ({{len .R.Faults}})</h2>
{{if .R.Faults}}<table><tr><th>at (s)</th><th>fault</th><th>target</th><th>detail</th></tr>
{{range .R.Faults}}<tr><td class="num">{{printf "%.1f" .AtS}}</td><td>{{.Kind}}</td><td>{{.Target}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>{{end}}
{{if .R.Impacts}}<h2>What each node fault did</h2>
<table><tr><th>at (s)</th><th>fault</th><th>target</th><th>sends</th><th>failed</th><th>stalled</th><th>max wait (ms)</th><th>ack gap (ms)</th><th>recovered (s)</th></tr>
{{range .R.Impacts}}<tr><td class="num">{{printf "%.1f" .AtS}}</td><td>{{.Kind}}</td><td>{{.Target}}</td><td class="num">{{.Sends}}</td><td class="num">{{.Failed}}</td><td class="num">{{.Slow}}</td><td class="num">{{printf "%.0f" .MaxWaitMs}}</td><td class="num">{{printf "%.0f" .AckGapMs}}</td><td class="num">{{printf "%.1f" .RecoveredS}}</td></tr>
{{end}}</table>{{end}}
{{if .R.Backlogs}}<h2>Backlogs</h2>
<table><tr><th>device</th><th>messages</th><th>synced in (s)</th></tr>
{{range .R.Backlogs}}<tr><td>{{.Device}}</td><td class="num">{{.Messages}}</td><td class="num">{{if lt .TookS 0.0}}NEVER{{else}}{{printf "%.1f" .TookS}}{{end}}</td></tr>
{{end}}</table>{{end}}
<h2>Full report</h2>
<pre>{{.Text}}</pre>
</body></html>
`))
