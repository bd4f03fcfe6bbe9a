package roamdproc

import "testing"

func TestParseReady_ReadsWhatRoamdPrints(t *testing.T) {
	want := Ready{Node: "n1", Client: "127.0.0.1:4001", Join: "127.0.0.1:4003"}
	got, ok := ParseReady(want.String())
	if !ok || got != want {
		t.Fatalf("ParseReady(%q) = %+v %v, want %+v", want.String(), got, ok, want)
	}
}

func TestParseReady(t *testing.T) {
	for _, c := range []struct {
		line string
		want Ready
		ok   bool
	}{
		{"roamd: node n1 ready; clients connect to 127.0.0.1:1; other nodes join 127.0.0.1:3", Ready{"n1", "127.0.0.1:1", "127.0.0.1:3"}, true},
		// Without the join part (older roamd), and with a prefix.
		{"node2: roamd: node node2 ready; clients connect to [::1]:7", Ready{"node2", "[::1]:7", ""}, true},
		{"roamd: node n1 ready; clients connect to 127.0.0.1:1 (+12:00:00.000)", Ready{"n1", "127.0.0.1:1", ""}, true},
		{`time=... level=INFO msg=ready node=n1 client=127.0.0.1:1`, Ready{}, false},
		{"roamd: new cluster key written to /d/cluster.key (mode 0600)", Ready{}, false},
		{"roamd: node n1 not ready", Ready{}, false},
		{"", Ready{}, false},
	} {
		got, ok := ParseReady(c.line)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseReady(%q) = %+v %v, want %+v %v", c.line, got, ok, c.want, c.ok)
		}
	}
}
