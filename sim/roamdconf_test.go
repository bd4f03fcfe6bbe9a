package sim

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRoamdConfigKeepsKnownKeys builds roamd and checks that the spawned
// cluster's config holds the keys this roamd knows and nothing else.
func TestRoamdConfigKeepsKnownKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds roamd")
	}
	dir := t.TempDir()
	bin, err := BuildRoamd(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, skipped, err := roamdConfig(bin, map[string]any{"send_rate": 500, "max_conns_per_ip": 9, "no_such_key_anywhere": 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"send_rate":500`) || !strings.Contains(string(b), `"max_conns_per_ip":9`) || strings.Contains(string(b), "no_such") {
		t.Fatalf("config %s", b)
	}
	if len(skipped) != 1 || skipped[0] != "no_such_key_anywhere" {
		t.Fatalf("skipped %v", skipped)
	}
	conf := filepath.Join(dir, "c.json")
	os.WriteFile(conf, b, 0o644)
	all, left, _ := roamdConfig(bin, clusterSettings(1000, time.Second))
	if len(left) > 0 || !strings.Contains(string(all), `"schedule_min_ahead":"1s"`) {
		t.Fatalf("this roamd does not know the cluster settings %v: %s", left, all)
	}
	os.WriteFile(conf, all, 0o644)
	// roamd accepts the file (it fails later, on the missing -data).
	out, _ := exec.Command(bin, "-config", conf).CombinedOutput()
	if strings.Contains(string(out), "unknown key") || strings.Contains(string(out), "MinAhead") {
		t.Fatalf("roamd refused the cluster settings: %s", out)
	}
}
