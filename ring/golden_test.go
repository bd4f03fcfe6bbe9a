package ring

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Regenerate with: go test ./ring -update
// Only do that for a deliberate, versioned change of the algorithm: these
// files pin where every user's data lives.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenNames covers ASCII, case, digits, separators, Unicode, the empty
// string, a long name, and the pairs plain FNV-1a would collide modulo 64.
var goldenNames = []string{
	"", "a", "b", "A", "alice", "Alice", "bob", "carol", "dave", "eve",
	"mallory", "trent", "user0", "userp", "user1", "userq", "user9", "usery",
	"user10", "user11", "user12", "alice@example.com", "bob@example.org",
	"+15551234567", "xX_gamer_Xx", "名字", "ünïcødé", "émile", "😀",
	"a.b", "a-b", "a_b", "a b", "0", "00", "000", "\x00", "\xff",
	strings.Repeat("long", 64),
}

func goldenPartitionOf() []byte {
	var b bytes.Buffer
	b.WriteString("# name (Go-quoted)\tHashString(name)\tPartitionOf(name, 64)\n")
	for _, name := range goldenNames {
		fmt.Fprintf(&b, "%s\t%#016x\t%d\n", strconv.Quote(name), HashString(name), PartitionOf(name, 64))
	}
	return b.Bytes()
}

func goldenReplicas(t *testing.T) []byte {
	var b bytes.Buffer
	b.WriteString("# Place(64, 3, members); per partition: replicas, preferred leader first\n")
	for _, n := range []int{3, 5} {
		ms := members(0, n)
		pl := mustPlace(t, 64, 3, ms)
		ids := pl.Members()
		fmt.Fprintf(&b, "\nmembers %s\n", strings.Join(ids, ","))
		fmt.Fprintf(&b, "signature %#016x\n", pl.Signature())
		load := pl.Load()
		for _, id := range ids {
			fmt.Fprintf(&b, "load %s %d\n", id, load[id])
		}
		for pid := range 64 {
			fmt.Fprintf(&b, "pid %2d %s\n", pid, strings.Join(pl.Replicas(uint16(pid)), ","))
		}
	}
	return b.Bytes()
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ring -update to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s\n"+
				"The ring decides where data lives; do not regenerate unless the change is deliberate.",
				path, i+1, g, w)
		}
	}
}

func TestGoldenPartitionOf(t *testing.T) { checkGolden(t, "partition_of.golden", goldenPartitionOf()) }

func TestGoldenReplicas(t *testing.T) { checkGolden(t, "replicas.golden", goldenReplicas(t)) }
