package sim

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// LeaderBalance is how the partitions' leaderships were spread over the
// running nodes at the end of a run, as each node last logged its count
// (gossip's "leader count" line).
type LeaderBalance struct {
	PerNode map[string]int `json:"per_node"`
	Max     int            `json:"max"`
	Mean    float64        `json:"mean"`
}

var leaderCountRE = regexp.MustCompile(`msg="leader count".* leaders=(\d+)`)

// LeaderBalance reads the last leader count of every running node from its
// log; nil when no node logged one.
func (c *Cluster) LeaderBalance() *LeaderBalance {
	c.mu.Lock()
	nodes := append([]*Node(nil), c.Nodes...)
	c.mu.Unlock()
	lb := &LeaderBalance{PerNode: map[string]int{}}
	sum := 0
	for _, n := range nodes {
		if n.State() != "up" {
			continue
		}
		b, err := os.ReadFile(n.LogPath)
		if err != nil {
			continue
		}
		// Only what this process logged: the log holds every start.
		s := string(b)
		if i := strings.LastIndex(s, "=== sim: start "); i >= 0 {
			s = s[i:]
		}
		m := leaderCountRE.FindAllStringSubmatch(s, -1)
		if len(m) == 0 {
			continue
		}
		k, _ := strconv.Atoi(m[len(m)-1][1])
		lb.PerNode[n.Name] = k
		lb.Max = max(lb.Max, k)
		sum += k
	}
	if len(lb.PerNode) == 0 {
		return nil
	}
	lb.Mean = float64(sum) / float64(len(lb.PerNode))
	return lb
}

// String is the report line: max/mean, then the count of each node.
func (lb *LeaderBalance) String() string {
	var names []string
	for k := range lb.PerNode {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s=%d", k, lb.PerNode[k])
	}
	ratio := 0.0
	if lb.Mean > 0 {
		ratio = float64(lb.Max) / lb.Mean
	}
	return fmt.Sprintf("max %d, mean %.1f (max/mean %.2f): %s", lb.Max, lb.Mean, ratio, strings.Join(parts, " "))
}
