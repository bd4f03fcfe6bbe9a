package sim

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLeaderBalance_LastCountOfTheCurrentProcess(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := &Cluster{Nodes: []*Node{
		{Name: "n1", state: "up", LogPath: write("n1.log", "=== sim: start x\nlevel=INFO msg=\"leader count\" component=gossip leaders=30\n"+
			"=== sim: start x\nlevel=INFO msg=\"leader count\" component=gossip leaders=5\nlevel=INFO msg=\"leader count\" component=gossip leaders=22\n")},
		{Name: "n2", state: "up", LogPath: write("n2.log", "=== sim: start x\nlevel=INFO msg=\"leader count\" component=gossip leaders=21\n")},
		{Name: "n3", state: "up", LogPath: write("n3.log", "=== sim: start x\nlevel=INFO msg=\"leader count\" leaders=9\n=== sim: start x\n")},
		{Name: "n4", state: "down", LogPath: write("n4.log", "level=INFO msg=\"leader count\" leaders=64\n")},
	}}
	lb := c.LeaderBalance()
	if lb == nil || lb.Max != 22 || len(lb.PerNode) != 2 || lb.PerNode["n1"] != 22 || lb.PerNode["n2"] != 21 || lb.Mean != 21.5 {
		t.Fatalf("got %+v", lb)
	}
	if got, want := lb.String(), "max 22, mean 21.5 (max/mean 1.02): n1=22 n2=21"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
