package client

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

// reconnectWindow is how long the reconnect tests count reconnects.
const reconnectWindow = 5 * time.Second

// maxReconnectsInWindow bounds them: with backoff from 100 ms doubling
// (equal jitter), the client makes about 7 attempts in 5 s; a client
// without backoff makes hundreds.
const maxReconnectsInWindow = 10

// TestReconnect_BacksOffWhenEveryConnectionDrops is the regression test
// for issue 12.1's hot loop: a server that drops every connection right
// after login (here the fake server) must not be reconnected to without
// pause. Before the fix every successful resume reset the backoff, so the
// client reconnected at once, again and again.
func TestReconnect_BacksOffWhenEveryConnectionDrops(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	cfg := testConfig(t, cl.addr(0))
	def := DefaultConfig()
	cfg.RetryBackoff, cfg.MaxBackoff = def.RetryBackoff, def.MaxBackoff
	c := dialT(t, cfg)
	if err := c.Login(ctxT(t), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	cl.mu.Lock()
	cl.dropAfterLogin = true
	cl.logins = 0
	cl.mu.Unlock()
	cl.nodes[0].dropAll()
	time.Sleep(reconnectWindow) // counting what happens in a fixed window
	cl.mu.Lock()
	n := cl.logins
	cl.mu.Unlock()
	t.Logf("%d resumes in %v", n, reconnectWindow)
	if n < 2 {
		t.Fatalf("%d resumes in %v: the client stopped trying", n, reconnectWindow)
	}
	if n > maxReconnectsInWindow {
		t.Fatalf("%d resumes in %v, want at most %d: no backoff", n, reconnectWindow, maxReconnectsInWindow)
	}
}

// loginDropper is a TCP proxy in front of a real node that closes each
// connection right after forwarding its login_ok (once armed), and makes
// the Welcome name only itself, so that the client keeps coming back
// through it.
type loginDropper struct {
	ln     net.Listener
	target string
	armed  atomic.Bool
	logins atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func newLoginDropper(t *testing.T, target string) *loginDropper {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &loginDropper{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	d.wg.Add(1)
	go d.accept()
	t.Cleanup(func() {
		ln.Close()
		d.dropAll()
		d.wg.Wait()
	})
	return d
}

func (d *loginDropper) track(c net.Conn, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on {
		d.conns[c] = struct{}{}
	} else {
		delete(d.conns, c)
	}
}

func (d *loginDropper) dropAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.conns {
		c.Close()
	}
}

func (d *loginDropper) accept() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", d.target)
		if err != nil {
			c.Close()
			continue
		}
		d.track(c, true)
		d.track(u, true)
		d.wg.Add(2)
		go func() {
			defer d.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := u.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			u.Close()
			c.Close()
		}()
		go func() {
			defer d.wg.Done()
			defer func() {
				c.Close()
				u.Close()
				d.track(c, false)
				d.track(u, false)
			}()
			rd := wire.NewReader(u, 16<<20)
			for {
				f, err := rd.ReadFrame()
				if err != nil {
					return
				}
				var out []byte
				if f.Type == wire.TWelcome {
					var w wire.Welcome
					if wire.Decode(f.Body, &w) != nil {
						return
					}
					w.Nodes = []string{d.ln.Addr().String()}
					out, _ = wire.AppendFrame(nil, f.Type, f.RID, &w)
				} else {
					out = wire.AppendRaw(nil, f.Type, f.RID, f.Body)
				}
				if _, err := c.Write(out); err != nil {
					return
				}
				if f.Type == wire.TLoginOK {
					d.logins.Add(1)
					if d.armed.Load() {
						return
					}
				}
			}
		}()
	}
}

// TestReconnect_BacksOffAgainstRealNode: the same with a real node behind
// a proxy that drops every connection right after login_ok; each resume
// is a Raft write, so a hot loop costs the cluster too.
func TestReconnect_BacksOffAgainstRealNode(t *testing.T) {
	n := startNode(t)
	setup := e2eClient(t, n, "setup")
	ctx := ctxT(t)
	if err := setup.Register(ctx, "dora", "pw"); err != nil {
		t.Fatal(err)
	}
	d := newLoginDropper(t, n.ClientAddr())
	cfg := testConfig(t, d.ln.Addr().String())
	def := DefaultConfig()
	cfg.RetryBackoff, cfg.MaxBackoff = def.RetryBackoff, def.MaxBackoff
	cfg.RequestTimeout = def.RequestTimeout
	c := dialT(t, cfg)
	if err := c.Login(ctx, "dora", "pw"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, c, EventSynced)
	d.armed.Store(true)
	before := d.logins.Load()
	d.dropAll()
	time.Sleep(reconnectWindow) // counting what happens in a fixed window
	got := d.logins.Load() - before
	t.Logf("%d resumes in %v", got, reconnectWindow)
	if got < 2 {
		t.Fatalf("%d resumes in %v: the client stopped trying", got, reconnectWindow)
	}
	if got > maxReconnectsInWindow {
		t.Fatalf("%d resumes in %v, want at most %d: no backoff", got, reconnectWindow, maxReconnectsInWindow)
	}
	// The session still works once the node behaves again.
	d.armed.Store(false)
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Whoami(rctx); err != nil {
		t.Fatalf("whoami once the proxy stops dropping: %v", err)
	}
}
