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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := vlr.DefaultConfig()
	cfg.NodeID = "ll"
	cfg.Listener = ln
	cfg.FakeSaltSecret = bytes.Repeat([]byte{1}, 32)
	cfg.TokenSecret = bytes.Repeat([]byte{2}, 32)
	home := &linearHome{}
	srv, err := vlr.New(cfg, home, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown("")
	c, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rd := wire.NewReader(c, 1<<20)
	if f := exchange(t, c, rd, wire.THello, 1, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "t"}); f.Type != wire.TWelcome {
		t.Fatalf("hello: %s", f.Type)
	}
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
