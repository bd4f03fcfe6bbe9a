package sim

import (
	"bytes"
	"strings"
	"testing"
)

// TestRenderHTML_VerdictChecksChartAndFaults: the page says the verdict,
// marks the failed check, carries the chart inline and lists the faults,
// escaping what came from outside.
func TestRenderHTML_VerdictChecksChartAndFaults(t *testing.T) {
	rep := &Report{
		Mode: "spawn", Seed: 7, Accounts: AccountResult{Linearizable: "ok"},
		Series:  []Second{{T: 0, Sends: 10, Acked: 9, P50ms: 2, P99ms: 9}, {T: 1, Sends: 12, Acked: 12, P50ms: 3, P99ms: 11}},
		Faults:  []FaultEvent{{AtS: 3.5, Kind: FaultKill, Target: "node2", Detail: "<b>kill -9</b>"}},
		Impacts: []FaultImpact{{AtS: 3.5, Kind: FaultKill, Target: "node2", Sends: 40, Failed: 1}},
	}
	page := func() string {
		var b bytes.Buffer
		if err := rep.RenderHTML(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	ok := page()
	for _, want := range []string{"<title>roamsim spawn seed 7: OK</title>", `class="verdict ok"`, "<svg", "</svg>", "node2", "&lt;b&gt;kill -9&lt;/b&gt;", "What each node fault did", "Full report"} {
		if !strings.Contains(ok, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(ok, "FAILED") {
		t.Error("a clean run shows a failed check")
	}
	rep.Lost = 2
	bad := page()
	if !strings.Contains(bad, "VIOLATIONS") || !strings.Contains(bad, ">FAILED<") || !strings.Contains(bad, "lost 2") {
		t.Error("a run that lost messages is not shown as failed")
	}
}
