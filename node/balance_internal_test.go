package node

import (
	"slices"
	"testing"
)

func TestLeadershipLimit(t *testing.T) {
	for _, c := range []struct{ p, live, want int }{
		{64, 5, 15}, // ceil(64 * 1.15 / 5) = ceil(14.72)
		{64, 4, 19},
		{64, 3, 25},
		{64, 1, 64},
		{8, 3, 4},
		{1, 3, 1},
		{64, 0, 64},
	} {
		if got := leadershipLimit(c.p, c.live); got != c.want {
			t.Errorf("leadershipLimit(%d, %d) = %d, want %d", c.p, c.live, got, c.want)
		}
	}
}

func TestTransferTargets(t *testing.T) {
	counts := map[string]int{"a": 10, "b": 12, "c": 15, "full": 16}
	for _, c := range []struct {
		name      string
		mine      int
		voters    []string
		preferred string
		want      []string
	}{
		{"preferred has two fewer", 12, []string{"a", "c"}, "a", []string{"a"}},
		{"preferred not better off", 11, []string{"a", "c"}, "a", nil},
		{"not preferred, not over the limit", 14, []string{"a", "b"}, "x", nil},
		{"over the limit: least loaded first", 18, []string{"b", "a", "c"}, "x", []string{"a", "b", "c"}},
		{"over the limit: preferred first, then the rest", 18, []string{"b", "a"}, "b", []string{"b", "a"}},
		{"never to a node at the limit", 20, []string{"full"}, "full", nil},
		{"unknown counts are no candidates", 20, []string{"mystery"}, "mystery", nil},
		{"nobody", 20, nil, "", nil},
	} {
		got := transferTargets(c.mine, c.voters, c.preferred, counts, 16)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: transferTargets(%d, %v, %q) = %v, want %v", c.name, c.mine, c.voters, c.preferred, got, c.want)
		}
	}
}
