package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMESession runs the CLI session of README.md verbatim (only the
// node address, the CA file and the binary path are substituted) against
// a spawned roamd whose client port speaks TLS with a certificate made by
// roamd cert, as make run's, so the README cannot drift from what the
// programs do and the CLI's TLS is what it uses.
func TestREADMESession(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script := extractSession(t, string(readme))
	dir := t.TempDir()
	roam := filepath.Join(dir, "roam")
	if out, err := exec.Command("go", "build", "-o", roam, "github.com/roamhq/roam/cmd/roam").CombinedOutput(); err != nil {
		t.Fatalf("build roam: %v\n%s", err, out)
	}
	certs := devCerts(t)
	p := startRoamd(t, t.TempDir(), "-client-cert", filepath.Join(certs, "node.crt"), "-client-key", filepath.Join(certs, "node.key"))
	if !strings.Contains(script, "export ROAM_CA=.run/certs/ca.crt\n") {
		t.Fatal("the README session does not export ROAM_CA=.run/certs/ca.crt")
	}
	script = strings.ReplaceAll(script, "ROAM_ADDR=127.0.0.1:7400", "ROAM_ADDR="+p.client)
	script = strings.ReplaceAll(script, "/tmp/", dir+"/")
	script = strings.ReplaceAll(script, "ROAM_CA=.run/certs/ca.crt", "ROAM_CA="+filepath.Join(certs, "ca.crt"))
	script = strings.ReplaceAll(script, "bin/roam ", roam+" ")
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = cleanEnv("HOME=" + dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README session failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"registered alice", "logged in as bob", `"display_name":"Alice"`,
		"refused: not friends yet", "bob is now a friend",
		"bob: hello alice", "bob: are you there?", "password changed", "account bob deleted",
		"to alice at", ": pending: tea in an hour?",
		"in scene plaza at (10, 20) as player", "position in plaza: (12, 20)", "say in plaza: anyone around?", "act in plaza: waves",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README session output lacks %q:\n%s", want, out)
		}
	}
	// The second recv prints nothing new.
	if n := strings.Count(string(out), "bob: hello alice"); n != 1 {
		t.Errorf("message printed %d times:\n%s", n, out)
	}
}

// extractSession returns the first ```sh block after "## A CLI session".
func extractSession(t *testing.T, readme string) string {
	t.Helper()
	i := strings.Index(readme, "## A CLI session")
	if i < 0 {
		t.Fatal(`README.md has no "## A CLI session" section`)
	}
	rest := readme[i:]
	j := strings.Index(rest, "```sh\n")
	if j < 0 {
		t.Fatal("no ```sh block in the CLI session section")
	}
	rest = rest[j+len("```sh\n"):]
	k := strings.Index(rest, "\n```")
	if k < 0 {
		t.Fatal("unterminated ```sh block")
	}
	return rest[:k]
}
