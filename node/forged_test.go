package node_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/pki"
)

// forgedTerm is the lowest term the attacker forges.
const forgedTerm = 1 << 60

// raftView is every partition's leader and, per node hosting it, the
// term there.
type raftView map[string]string

func viewOf(c *clustertest.Cluster, partitions int) raftView {
	v := raftView{}
	for pid := range partitions {
		cfg, ok := c.PartitionConfig(uint16(pid))
		v[fmt.Sprintf("p%d leader", pid)] = cfg.Leader
		if !ok {
			v[fmt.Sprintf("p%d leader", pid)] = "(none)"
		}
		for _, i := range c.Alive() {
			if r, ok := c.Node(i).Raft(uint16(pid)); ok {
				v[fmt.Sprintf("p%d term at %s", pid, c.Node(i).ID())] = fmt.Sprint(r.CurrentTerm())
			}
		}
	}
	return v
}

// settledView waits until the view has not changed for 3 s (the
// reconciler has moved every leadership it wants to move) and returns it.
func settledView(t *testing.T, c *clustertest.Cluster, partitions int) raftView {
	t.Helper()
	v, since := viewOf(c, partitions), time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		w := viewOf(c, partitions)
		if !maps.Equal(v, w) {
			v, since = w, time.Now()
			continue
		}
		if time.Since(since) > 3*time.Second {
			return v
		}
	}
	t.Fatal("leaders and terms did not settle in 60s")
	return nil
}

// hammer sends forged heartbeat batches (a huge term for every partition,
// claiming each node's Raft id in turn) to every node's internal port
// over connections from dial, for d. It returns how many it sent.
func hammer(c *clustertest.Cluster, partitions int, d time.Duration, dial func(addr string) (net.Conn, error)) int {
	var ids, addrs []string
	for _, i := range c.Alive() {
		ids = append(ids, c.Node(i).ID())
		addrs = append(addrs, c.Node(i).InternalAddr())
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	stop := time.Now().Add(d)
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(stop); k++ {
				conn, err := dial(addr)
				if err != nil {
					continue
				}
				batch := node.ForgedHeartbeats(partitions, forgedTerm+uint64(k), ids[k%len(ids)], addrs[k%len(addrs)])
				conn.SetDeadline(time.Now().Add(time.Second))
				conn.Write(append(mux.AppendHeader(nil, node.KindHeartbeat, 0), batch...))
				io.Copy(io.Discard, io.LimitReader(conn, 1<<16))
				conn.Close()
				mu.Lock()
				sent++
				mu.Unlock()
				time.Sleep(2 * time.Millisecond) // spare the shared machine's ports

			}
		}()
	}
	wg.Wait()
	return sent
}

// TestForgedHeartbeats_CannotDeposeLeaders is the leader-deposing attack
// of issue 11: from outside the cluster — no certificate, or a
// certificate derived from another cluster's key — an attacker hammers
// every node's internal port with heartbeat batches carrying a huge term
// for every partition. Afterwards every partition has the same leader and
// every replica the same term. The control runs the same attack on a
// cluster whose internal port is plaintext and sees the terms move.
func TestForgedHeartbeats_CannotDeposeLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	const partitions = 8
	foreign, err := pki.Derived(bytes.Repeat([]byte{0xB}, 32), "node0")
	if err != nil {
		t.Fatal(err)
	}
	foreignCert, _ := foreign.Certificate()
	attackers := map[string]func(addr string) (net.Conn, error){
		"plaintext": func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) },
		"another cluster's certificate": func(addr string) (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{
				InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{pki.InternalALPN},
				Certificates: []tls.Certificate{*foreignCert},
			})
		},
	}

	c := clustertest.New(t, 3, clustertest.Options{Partitions: partitions})
	before := settledView(t, c, partitions)
	for name, dial := range attackers {
		sent := hammer(c, partitions, 3*time.Second, dial)
		t.Logf("%s: %d forged batches sent", name, sent)
		if sent == 0 {
			t.Errorf("%s: the attack sent nothing", name)
		}
	}
	// The attack's mark is a forged term (at least 2^60) reaching a
	// replica. A few legitimate elections may happen meanwhile on this
	// shared 2-core machine (a starved process misses heartbeats), which
	// move a term by one or two: those are logged, not failures.
	after := viewOf(c, partitions)
	for k, v := range before {
		if after[k] == v {
			continue
		}
		var b, a uint64
		if _, err := fmt.Sscan(v, &b); err != nil {
			t.Logf("%s: %s → %s (a legitimate election)", k, v, after[k])
			continue // a leader entry
		}
		fmt.Sscan(after[k], &a)
		if a >= forgedTerm || a > b+100 {
			t.Errorf("%s: %s → %s: a forged term was accepted", k, v, after[k])
		} else {
			t.Logf("%s: %s → %s (a legitimate election)", k, v, after[k])
		}
	}

	t.Run("control: a plaintext internal port is deposed", func(t *testing.T) {
		p := clustertest.New(t, 3, clustertest.Options{Partitions: partitions, Configure: func(_ int, cfg *node.Config) {
			cfg.InsecureInternalPlaintext = true
		}})
		before := settledView(t, p, partitions)
		hammer(p, partitions, time.Second, attackers["plaintext"])
		after := viewOf(p, partitions)
		moved, forged := 0, 0
		for k, v := range before {
			if after[k] != v {
				moved++
				var a uint64
				if _, err := fmt.Sscan(after[k], &a); err == nil && a >= forgedTerm {
					forged++
				}
			}
		}
		if forged == 0 {
			t.Fatal("forged heartbeats planted no forged term on a plaintext cluster: the attack is not real")
		}
		t.Logf("%d of %d leaders and terms moved, %d replicas took a forged term", moved, len(before), forged)
	})
}
