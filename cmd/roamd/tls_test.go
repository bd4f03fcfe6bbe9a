package main

import (
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roamhq/roam/internal/roamdproc"
	"github.com/roamhq/roam/node/pki"
)

// certDir runs roamd cert create-ca and create-node for id in a new
// directory and returns it.
func certDir(t *testing.T, id string) string {
	t.Helper()
	dir := t.TempDir()
	var errs strings.Builder
	if code := run([]string{"cert", "create-ca", "--certs-dir", dir}, env(nil), io.Discard, &errs); code != 0 {
		t.Fatalf("create-ca: exit %d: %s", code, errs.String())
	}
	if code := run([]string{"cert", "create-node", "--certs-dir", dir, "--node-id", id, "--host", "127.0.0.1,localhost"}, env(nil), io.Discard, &errs); code != 0 {
		t.Fatalf("create-node: exit %d: %s", code, errs.String())
	}
	return dir
}

func TestCert_CreateListAndRefuseOverwrite(t *testing.T) {
	dir := certDir(t, "n1")
	for name, want := range map[string]os.FileMode{"ca.key": 0o600, "node.key": 0o600, "ca.crt": 0o644, "node.crt": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v mode %v, want %v", name, err, fi.Mode().Perm(), want)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	var errs strings.Builder
	if code := run([]string{"cert", "create-ca", "--certs-dir", dir}, env(nil), io.Discard, &errs); code != 1 || !strings.Contains(errs.String(), "--overwrite") {
		t.Fatalf("create-ca over an existing CA: exit %d, %q", code, errs.String())
	}
	if code := run([]string{"cert", "create-node", "--certs-dir", dir, "--node-id", "n1"}, env(nil), io.Discard, &errs); code != 1 {
		t.Fatalf("create-node over an existing node: exit %d", code)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "ca.key")); string(after) != string(before) {
		t.Fatal("the CA key was replaced without --overwrite")
	}
	if code := run([]string{"cert", "create-node", "--certs-dir", dir, "--node-id", "n2", "--host", "127.0.0.1", "--overwrite"}, env(nil), io.Discard, &errs); code != 0 {
		t.Fatalf("create-node --overwrite: exit %d: %s", code, errs.String())
	}
	id, err := pki.LoadIdentity(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key"))
	if err != nil || id.NodeID() != "n2" {
		t.Fatalf("identity %v, %v", id, err)
	}
	var out strings.Builder
	if code := run([]string{"cert", "list", "--certs-dir", dir}, env(nil), &out, io.Discard); code != 0 ||
		!strings.Contains(out.String(), "node id n2") || !strings.Contains(out.String(), "signed by ca.crt") || !strings.Contains(out.String(), "127.0.0.1") {
		t.Fatalf("list: exit %d:\n%s", code, out.String())
	}
	for _, args := range [][]string{{"cert"}, {"cert", "sign"}, {"cert", "create-ca"}, {"cert", "create-node", "--certs-dir", dir}} {
		if code := run(args, env(nil), io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestRun_RefusesPlaintextOnNonLoopbackClient: a client address others
// can reach gets TLS, or plaintext only when asked for by name.
func TestRun_RefusesPlaintextOnNonLoopbackClient(t *testing.T) {
	base := []string{"-data", t.TempDir(), "-internal", "127.0.0.1:0", "-gossip", "127.0.0.1:0"}
	for _, addr := range []string{"0.0.0.0:0", ":0", "10.1.2.3:7400"} {
		args := append([]string{"-client", addr}, base...)
		if _, err := loadSettings(args, env(nil), io.Discard); err == nil {
			t.Fatalf("plaintext on %s accepted", addr) // (run would start the node)
		}
		var errs strings.Builder
		if code := run(args, env(nil), io.Discard, &errs); code != 2 ||
			!strings.Contains(errs.String(), "-client-cert") || !strings.Contains(errs.String(), "-client-insecure-plaintext") {
			t.Fatalf("plaintext on %s: exit %d, %q", addr, code, errs.String())
		}
	}
	if _, err := loadSettings(append([]string{"-client", "0.0.0.0:0", "-client-insecure-plaintext"}, base...), env(nil), io.Discard); err != nil {
		t.Fatalf("with -client-insecure-plaintext: %v", err)
	}
	dir := certDir(t, "n1")
	s, err := loadSettings(append([]string{"-client", "0.0.0.0:0", "-client-cert", filepath.Join(dir, "node.crt"), "-client-key", filepath.Join(dir, "node.key")}, base...), env(nil), io.Discard)
	if err != nil || s.node.ClientCert == nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	for _, args := range [][]string{{"-client-cert", filepath.Join(dir, "node.crt")}, {"-client-cert", filepath.Join(dir, "ca.crt"), "-client-key", filepath.Join(dir, "node.key")}} {
		if _, err := loadSettings(append(args, base...), env(nil), io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if _, err := loadSettings(append([]string{"-client", "127.0.0.1:0"}, base...), env(nil), io.Discard); err != nil {
		t.Fatalf("plaintext on loopback: %v", err)
	}
}

func TestLoadSettings_OperatorCertificates(t *testing.T) {
	dir := certDir(t, "n1")
	files := []string{"-internal-ca", filepath.Join(dir, "ca.crt"), "-internal-cert", filepath.Join(dir, "node.crt"), "-internal-key", filepath.Join(dir, "node.key")}
	s, err := loadSettings(append([]string{"-data", "d"}, files...), env(nil), io.Discard)
	if err != nil || s.node.InternalIdentity == nil || s.node.InternalIdentity.NodeID() != "n1" {
		t.Fatalf("operator mode: %v", err)
	}
	if _, err := loadSettings(append([]string{"-data", "d", "-node-id", "n1"}, files...), env(nil), io.Discard); err != nil {
		t.Fatalf("matching -node-id: %v", err)
	}
	var errs strings.Builder
	if code := run(append([]string{"-data", t.TempDir(), "-node-id", "n2"}, files...), env(nil), io.Discard, &errs); code != 2 ||
		!strings.Contains(errs.String(), `is for node "n1", but this node is -node-id "n2"`) {
		t.Fatalf("certificate of another node: exit %d, %q", code, errs.String())
	}
	if _, err := loadSettings([]string{"-data", "d", "-internal-ca", filepath.Join(dir, "ca.crt")}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "all three") {
		t.Fatalf("partial operator mode: %v", err)
	}
	if _, err := loadSettings(append([]string{"-data", "d", "-insecure-internal-plaintext"}, files...), env(nil), io.Discard); err == nil {
		t.Fatal("operator mode and plaintext accepted together")
	}
	// A certificate of another CA.
	other := certDir(t, "n1")
	bad := []string{"-data", "d", "-internal-ca", filepath.Join(dir, "ca.crt"), "-internal-cert", filepath.Join(other, "node.crt"), "-internal-key", filepath.Join(other, "node.key")}
	if _, err := loadSettings(bad, env(nil), io.Discard); err == nil {
		t.Fatal("a node certificate of another CA was accepted")
	}
}

func TestLoadSettings_ClusterKeyFile(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	path := filepath.Join(t.TempDir(), "cluster.key")
	os.WriteFile(path, []byte(key+"\n"), 0o600)
	s, err := loadSettings([]string{"-data", "d", "-cluster-key-file", path}, env(nil), io.Discard)
	if err != nil || string(s.node.ClusterKey) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("key file: %v %q", err, s.node.ClusterKey)
	}
	s, err = loadSettings([]string{"-data", "d"}, env(map[string]string{"ROAM_CLUSTER_KEY_FILE": path}), io.Discard)
	if err != nil || len(s.node.ClusterKey) != 32 {
		t.Fatalf("key file from the environment: %v", err)
	}
	if _, err := loadSettings([]string{"-data", "d", "-cluster-key-file", path, "-cluster-key", key}, env(nil), io.Discard); err == nil {
		t.Fatal("both key sources accepted")
	}
	os.Chmod(path, 0o644)
	var warn strings.Builder
	if _, err := loadSettings([]string{"-data", "d", "-cluster-key-file", path}, env(nil), &warn); err != nil || !strings.Contains(warn.String(), "chmod 600") {
		t.Fatalf("readable key file: %v, %q", err, warn.String())
	}
	if strings.Contains(warn.String(), key) {
		t.Fatal("the warning shows the key")
	}
	os.WriteFile(path, []byte("not base64!"), 0o600)
	if _, err := loadSettings([]string{"-data", "d", "-cluster-key-file", path}, env(nil), io.Discard); err == nil {
		t.Fatal("garbage key accepted")
	}
}

// TestRun_NewClusterKeyGoesToA0600FileNeverStdout: the node that creates
// a cluster without a key writes the new key to DATA/cluster.key with
// mode 0600 and prints only the path; the key is on neither stdout nor
// stderr, and the file works as -cluster-key-file.
func TestRun_NewClusterKeyGoesToA0600FileNeverStdout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"-data", dir, "-client", "127.0.0.1:0", "-internal", "127.0.0.1:0", "-gossip", "127.0.0.1:0", "-partitions", "2", "-log-level", "debug"}
	var stderr roamdproc.Buffer
	p := runReady(t, args, &stderr)
	var stdout strings.Builder
	stdout.WriteString(p.ready.String() + "\n")
	for !strings.Contains(stdout.String(), "cluster key") {
		line, err := p.out.ReadString('\n')
		if err != nil {
			t.Fatalf("no key line on stdout: %v\n%s", err, stdout.String())
		}
		stdout.WriteString(line)
	}
	code, rest := p.sigterm()
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	stdout.WriteString(rest)
	path := filepath.Join(dir, "cluster.key")
	if !strings.Contains(stdout.String(), "new cluster key written to "+path) {
		t.Fatalf("stdout does not name %s:\n%s", path, stdout.String())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	key := strings.TrimSpace(string(data))
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 32 {
		t.Fatalf("key file holds %q", data)
	}
	if strings.Contains(stdout.String(), key) || strings.Contains(stderr.String(), key) {
		t.Fatal("the cluster key was printed")
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("data dir mode %v", fi.Mode().Perm())
	}
	// The file is what -cluster-key-file reads; a restart prints no key
	// line (nothing new was generated).
	if _, err := loadSettings(append(args, "-cluster-key-file", path), env(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
}
