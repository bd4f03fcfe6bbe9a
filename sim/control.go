package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The fault-control endpoint of a spawned node (roamd -fault-control, see
// node/faultctl): gate faults happen inside the node, where the gate's
// frames can be seen even when the internal port is mutual TLS.

// control calls the node's fault-control endpoint and decodes the JSON
// answer into out (if not nil).
func (n *Node) control(ctx context.Context, method, path string, q url.Values, out any) error {
	if n.Control == "" {
		return fmt.Errorf("%s has no fault-control endpoint", n.Name)
	}
	u := "http://" + n.Control + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("%s fault control: %w", n.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s fault control %s %s: %s: %s", n.Name, method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// GateDrop makes n drop the one-way gate items it receives of kinds (nil:
// every kind) with probability p for d.
func (n *Node) GateDrop(ctx context.Context, p float64, kinds []string, d time.Duration, seed uint64) error {
	q := url.Values{"p": {fmt.Sprint(p)}, "for": {d.String()}, "seed": {fmt.Sprint(seed)}}
	if len(kinds) > 0 {
		q.Set("kinds", strings.Join(kinds, ","))
	}
	return n.control(ctx, http.MethodPost, "/faults/gate-drop", q, nil)
}

// GateReset makes n close every gate connection now and every `every`
// for d.
func (n *Node) GateReset(ctx context.Context, d, every time.Duration) error {
	return n.control(ctx, http.MethodPost, "/faults/gate-reset", url.Values{"for": {d.String()}, "every": {every.String()}}, nil)
}

// GateCounters is what a node's fault-control endpoint counted.
type GateCounters struct {
	Dropped     map[string]uint64 `json:"dropped"`
	Passed      map[string]uint64 `json:"passed"`
	Resets      uint64            `json:"resets"`
	ConnsClosed uint64            `json:"conns_closed"`
}

// ClearFaults ends the gate faults in force at n and returns its counters.
func (n *Node) ClearFaults(ctx context.Context) (GateCounters, error) {
	var c GateCounters
	if err := n.control(ctx, http.MethodDelete, "/faults", nil, nil); err != nil {
		return c, err
	}
	err := n.control(ctx, http.MethodGet, "/faults", nil, &c)
	return c, err
}

func (c GateCounters) String() string {
	var parts []string
	for k, v := range c.Dropped {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return fmt.Sprintf("dropped so far %s; resets %d (%d connections)", strings.Join(parts, " "), c.Resets, c.ConnsClosed)
}

// LeaderPartitions asks n which partitions it leads.
func (n *Node) LeaderPartitions(ctx context.Context) ([]uint16, error) {
	var l struct {
		Leads []uint16 `json:"leads"`
	}
	err := n.control(ctx, http.MethodGet, "/status/leaders", nil, &l)
	return l.Leads, err
}
