package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/internal/roamdproc"
)

// freeAddr returns a loopback address that was free a moment ago, below
// the ephemeral port range (roamdproc.FreeAddrs). A cluster that restarts
// at the same addresses needs fixed ports; one picked in the ephemeral
// range was taken once as another test's outgoing local port before the
// node bound it (CI: "bind: address already in use").
func freeAddr(t *testing.T) string {
	t.Helper()
	addrs, err := roamdproc.FreeAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	return addrs[0]
}

const e2eClusterKey = "cm9hbS1lMmUtbG9jYWwta2V5LTMyLWJ5dGVzLW9rISE="

// startCluster spawns n roamd processes with production settings (64
// partitions, default Raft timing, fast gossip as make sim uses) on fixed
// loopback ports, with the extra flags appended; the first creates the
// cluster.
func startCluster(t *testing.T, n int, extra ...string) []*proc {
	t.Helper()
	root := t.TempDir()
	gossip := make([]string, n)
	var procs []*proc
	for i := 0; i < n; i++ {
		gossip[i] = freeAddr(t)
	}
	for i := 0; i < n; i++ {
		p := &proc{t: t, dir: filepath.Join(root, fmt.Sprintf("n%d", i+1)), logs: &roamdproc.Buffer{}}
		p.args = []string{"-data", p.dir, "-node-id", fmt.Sprintf("n%d", i+1),
			"-client", freeAddr(t), "-internal", freeAddr(t), "-gossip", gossip[i],
			"-cluster-key", e2eClusterKey, "-gossip-fast", "-log-level", logLevel()}
		p.args = append(p.args, extra...)
		var others []string
		for j := 0; j < n; j++ {
			if j != i {
				others = append(others, gossip[j])
			}
		}
		if i > 0 {
			p.args = append(p.args, "-join", strings.Join(others[:i], ","))
		}
		p.start()
		// Later restarts know every other node.
		p.args = append(p.args, "-join", strings.Join(others, ","))
		t.Cleanup(func() {
			p.kill()
			if t.Failed() {
				t.Logf("%s logs:\n%s", p.dir, p.logs.String())
			}
		})
		procs = append(procs, p)
	}
	return procs
}

func clientAt(ctx context.Context, addr, device string) (*client.Client, error) {
	cfg := client.DefaultConfig(addr)
	cfg.Device = device
	cfg.DialTimeout = time.Second
	cfg.RequestTimeout = 2 * time.Second
	cfg.MaxSendAttempts = 1
	return client.Dial(ctx, cfg)
}

// TestPowerCut_FirstSendFast: every node of a 3-node cluster is killed
// with SIGKILL (a power cut) and all are started again at once; the time
// from the restart to the first acknowledged send is logged, with the
// phases (processes ready, login, send), and must stay within a generous
// bound.
func TestPowerCut_FirstSendFast(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a cluster")
	}
	procs := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := friendsAt(t, ctx, procs)
	if _, err := a.Send(ctx, "bob", []byte("before")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()

	addrs := make([]string, len(procs))
	for i, p := range procs {
		addrs[i] = p.client
		p.kill()
	}
	restart := time.Now()
	var readies []<-chan struct{}
	for _, p := range procs {
		readies = append(readies, p.respawn())
	}
	// A client tries every 50 ms, at each node in turn, to log in and
	// send; each try has a short deadline.
	var loggedIn, acked time.Duration
	var lastErr error
	for i := 0; acked == 0; i++ {
		if time.Since(restart) > 30*time.Second {
			t.Fatalf("no send acknowledged within 30s of the restart (last error: %v)", lastErr)
		}
		tctx, tcancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := clientAt(tctx, addrs[i%len(addrs)], fmt.Sprintf("a-%d", i))
		if err == nil {
			err = c.Login(tctx, "alice", "pw-alice")
			if err == nil {
				if loggedIn == 0 {
					loggedIn = time.Since(restart)
				}
				if _, err = c.Send(tctx, "bob", []byte("after")); err == nil {
					acked = time.Since(restart)
				}
			}
			c.Close()
		}
		tcancel()
		if err != nil {
			lastErr = err
			time.Sleep(50 * time.Millisecond)
		}
	}
	var ready []time.Duration
	for _, r := range readies {
		select {
		case <-r:
		case <-time.After(30 * time.Second):
			t.Fatal("a node did not print its ready line within 30s of the restart")
		}
	}
	for _, p := range procs {
		ready = append(ready, p.rp.ReadyAt().Sub(restart).Round(time.Millisecond))
	}
	var opened []string
	for _, p := range procs {
		opened = append(opened, lastMatch(p.logs.String(), startedRE))
	}
	t.Logf("power cut: nodes open after %v, ready (every partition led) %v after the restart; first login %v, first send acknowledged %v",
		opened, ready, loggedIn.Round(time.Millisecond), acked.Round(time.Millisecond))
	if acked > 15*time.Second {
		t.Errorf("first send acknowledged %v after the restart", acked)
	}
}

var startedRE = regexp.MustCompile(`msg="node started".* took=(\S+)`)

func lastMatch(s string, re *regexp.Regexp) string {
	m := re.FindAllStringSubmatch(s, -1)
	if len(m) == 0 {
		return "?"
	}
	return m[len(m)-1][1]
}

// respawn starts p again without waiting for it; each line of its output
// is stamped with the time it came. The channel is closed at its ready
// line.
func (p *proc) respawn() <-chan struct{} {
	cfg := roamdproc.DefaultConfig(roamdBin, p.args...)
	cfg.Log = &roamdproc.LineWriter{TimeLayout: "15:04:05.000", Out: func(line string) { p.logs.Write([]byte(line + "\n")) }}
	p.spawn(cfg)
	return p.rp.WhenReady()
}

// friendsAt registers alice at procs[0] and bob at procs[1] (devices a1
// and b1, logged in) and makes them friends.
func friendsAt(t *testing.T, ctx context.Context, procs []*proc) (a, b *client.Client) {
	t.Helper()
	var cls [2]*client.Client
	for i, u := range []string{"alice", "bob"} {
		c, err := clientAt(ctx, procs[i].client, u[:1]+"1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Register(ctx, u, "pw-"+u); err != nil {
			t.Fatal(err)
		}
		if err := c.Login(ctx, u, "pw-"+u); err != nil {
			t.Fatal(err)
		}
		cls[i] = c
	}
	befriendClients(t, ctx, cls[0], cls[1])
	return cls[0], cls[1]
}

// befriendClients makes a's and b's users friends: a asks, b accepts.
func befriendClients(t *testing.T, ctx context.Context, a, b *client.Client) {
	t.Helper()
	if err := a.FriendRequest(ctx, b.User()); err != nil {
		t.Fatal(err)
	}
	waitFriendEvent(t, b, "request")
	if err := b.FriendAccept(ctx, a.User()); err != nil {
		t.Fatal(err)
	}
	waitFriendEvent(t, a, "accepted")
}

func waitFriendEvent(t *testing.T, c *client.Client, kind string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if e.Kind == client.EventFriend && e.Friend == kind {
				return
			}
		case <-timeout:
			t.Fatalf("no friend event %q in 10s", kind)
		}
	}
}
