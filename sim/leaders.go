package sim

import (
	"context"
	"fmt"
	"time"
)

// LeaderBalance is how partition leadership is spread over the nodes at
// the end of a run (from each node's GET /status/leaders).
type LeaderBalance struct {
	Partitions int            `json:"partitions"`
	PerNode    map[string]int `json:"per_node"`
	Max        int            `json:"max"`
	MaxNode    string         `json:"max_node"`
	Mean       float64        `json:"mean"`
	// Leaderless counts partitions no node claimed; Doubled counts
	// partitions two nodes claimed (a deposed leader that does not know
	// yet).
	Leaderless int    `json:"leaderless"`
	Doubled    int    `json:"doubled"`
	Err        string `json:"error,omitempty"`
}

// Leaders collects the leadership balance of the nodes that are up.
func (c *Cluster) Leaders(ctx context.Context, partitions int) LeaderBalance {
	lb := LeaderBalance{Partitions: partitions, PerNode: map[string]int{}}
	c.mu.Lock()
	nodes := append([]*Node(nil), c.Nodes...)
	c.mu.Unlock()
	claims := map[uint16]int{}
	up := 0
	for _, n := range nodes {
		if n.State() != "up" {
			continue
		}
		up++
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		leads, err := n.LeaderPartitions(cctx)
		cancel()
		if err != nil {
			lb.Err = err.Error()
			continue
		}
		lb.PerNode[n.Name] = len(leads)
		if len(leads) > lb.Max || len(leads) == lb.Max && n.Name < lb.MaxNode {
			lb.Max, lb.MaxNode = len(leads), n.Name
		}
		for _, p := range leads {
			claims[p]++
		}
	}
	if up > 0 {
		lb.Mean = float64(partitions) / float64(up)
	}
	for p := 0; p < partitions; p++ {
		switch k := claims[uint16(p)]; {
		case k == 0:
			lb.Leaderless++
		case k > 1:
			lb.Doubled++
		}
	}
	return lb
}

func (lb LeaderBalance) String() string {
	s := fmt.Sprintf("max %d (%s), mean %.1f partitions led per node over %d nodes %v", lb.Max, lb.MaxNode, lb.Mean, len(lb.PerNode), lb.PerNode)
	if lb.Leaderless > 0 || lb.Doubled > 0 {
		s += fmt.Sprintf("; %d without a leader, %d claimed twice", lb.Leaderless, lb.Doubled)
	}
	if lb.Err != "" {
		s += "; error: " + lb.Err
	}
	return s
}
