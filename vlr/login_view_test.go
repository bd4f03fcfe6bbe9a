package vlr_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// viewHome is fakeHome that answers logins and resumes with the leader's
// LoginView, as a real home register does, and records every call.
type viewHome struct {
	fakeHome
	mu    sync.Mutex
	calls []string
}

func (h *viewHome) record(s string) {
	h.mu.Lock()
	h.calls = append(h.calls, s)
	h.mu.Unlock()
}

func (h *viewHome) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls
	h.calls = nil
	return c
}

func (h *viewHome) Exec(ctx context.Context, cmd hlr.Cmd) (hlr.Result, error) {
	h.record(cmd.Op.String())
	res, err := h.fakeHome.Exec(ctx, cmd)
	if res.Status == hlr.StatusOK && (cmd.Op == hlr.OpLogin || cmd.Op == hlr.OpResume) {
		a, _ := h.fakeHome.Query(ctx, hlr.Query{Kind: hlr.QueryFriends, User: cmd.User})
		res.Login = &hlr.LoginView{Friends: a.Friends, Cursor: 2}
	}
	return res, err
}

func (h *viewHome) Query(ctx context.Context, q hlr.Query) (*hlr.Answer, error) {
	h.record(fmt.Sprintf("query %d", q.Kind))
	return h.fakeHome.Query(ctx, q)
}

// TestResume_OneHomeCallWithTheLeadersView: a resume (and a login) makes
// one call to the home register when the leader's answer carries the
// friend list and the cursor, not three; a second session of the same
// device on this node still reads the cursor after the first one's
// teardown, with the two reads as before (its last cursor write may land
// after the command).
func TestResume_OneHomeCallWithTheLeadersView(t *testing.T) {
	home := &viewHome{}
	srv := homeServer(t, "lv", home)
	resume := func() wire.LoginOK {
		c, rd := helloConn(t, srv)
		home.take()
		f := exchange(t, c, rd, wire.TResume, 2, &wire.Resume{User: "alice", Device: "d1", Token: fuzzToken})
		if f.Type != wire.TLoginOK {
			t.Fatalf("resume: %s", f.Type)
		}
		var ok wire.LoginOK
		if err := wire.Decode(f.Body, &ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	ok := resume()
	if calls := home.take(); len(calls) != 1 || calls[0] != hlr.OpResume.String() {
		t.Fatalf("home calls of a resume: %v, want only %s", calls, hlr.OpResume)
	}
	if ok.Cursor != 2 {
		t.Fatalf("cursor %d, want the view's 2", ok.Cursor)
	}
	// The same device again while its first session is live here.
	resume()
	if calls := home.take(); len(calls) != 3 {
		t.Fatalf("home calls of a resume beside a live session of the device: %v, want the command and two reads", calls)
	}
}
