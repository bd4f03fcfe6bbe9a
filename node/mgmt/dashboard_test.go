package mgmt

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDashboard_UsesOnlyExportedMetrics: every roam_ series the Grafana
// dashboard (deploy/grafana-roam.json) queries is one this endpoint
// exports, so a renamed metric cannot leave a panel silently empty.
func TestDashboard_UsesOnlyExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("../../deploy/grafana-roam.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	known := map[string]kind{}
	for _, f := range families {
		known[f.name] = f.kind
	}
	name := regexp.MustCompile(`\broam_[a-z0-9_]+`)
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := n
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suf); ok && known[b] == histogram {
						base = b
					}
				}
				if _, ok := known[base]; !ok {
					t.Errorf("panel %q queries %s, which is not exported", p.Title, n)
				}
				used++
			}
		}
	}
	if used < 20 {
		t.Fatalf("the dashboard queries only %d roam_ series", used)
	}
}
