package vlr_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/vlr"
	"github.com/roamhq/roam/wire"
)

// homeServer starts a VLR server named node on loopback with home as its
// home register; it stops when the test ends.
func homeServer(t *testing.T, node string, home vlr.Home) *vlr.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := vlr.DefaultConfig()
	cfg.NodeID = node
	cfg.Listener = ln
	cfg.FakeSaltSecret = bytes.Repeat([]byte{1}, 32)
	cfg.TokenSecret = bytes.Repeat([]byte{2}, 32)
	srv, err := vlr.New(cfg, home, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown("") })
	return srv
}

// helloConn connects to srv and completes the hello; the connection is
// closed when the test ends.
func helloConn(t *testing.T, srv *vlr.Server) (net.Conn, *wire.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rd := wire.NewReader(c, 1<<20)
	if f := exchange(t, c, rd, wire.THello, 1, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "t"}); f.Type != wire.TWelcome {
		t.Fatalf("hello: %s", f.Type)
	}
	return c, rd
}

// linearHome is fakeHome that records whether each account read was
// linearizable.
type linearHome struct {
	fakeHome
	mu     sync.Mutex
	linear []bool
}

func (h *linearHome) Query(ctx context.Context, q hlr.Query) (*hlr.Answer, error) {
	if q.Kind == hlr.QueryAccount {
		h.mu.Lock()
		h.linear = append(h.linear, q.Linear)
		h.mu.Unlock()
	}
	return h.fakeHome.Query(ctx, q)
}

// TestLoginStart_ReadsCredentialsLinearizably: the credentials a password
// login is checked against are read linearizably. A plain read at a new
// leader before its barrier, or at a deposed one within its lease, can
// return the credentials from before a password change that was already
// acknowledged, and refuse the new password (the 10-minute sim's
// account operations were not linearizable); OpLogin's credential
// generation check stops only the old password, not that false refusal.
func TestLoginStart_ReadsCredentialsLinearizably(t *testing.T) {
	home := &linearHome{}
	c, rd := helloConn(t, homeServer(t, "ll", home))
	f := exchange(t, c, rd, wire.TLoginStart, 2, &wire.LoginStart{User: "alice", Device: "d1", ClientFirst: "n,,n=alice,r=abcdefghijklmnop"})
	if f.Type != wire.TLoginChallenge {
		t.Fatalf("login_start: %s", f.Type)
	}
	home.mu.Lock()
	defer home.mu.Unlock()
	if len(home.linear) == 0 {
		t.Fatal("login_start read no account")
	}
	for i, l := range home.linear {
		if !l {
			t.Fatalf("account read %d of login_start was not linearizable", i)
		}
	}
}
