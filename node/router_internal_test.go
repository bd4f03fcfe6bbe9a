package node

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/ring"
)

// TestRouterSettle: the answers a second application of a command gives
// are turned back into the first one's.
func TestRouterSettle(t *testing.T) {
	r := &router{}
	ctx := context.Background()
	for _, c := range []struct {
		cmd  hlr.Cmd
		res  hlr.Result
		want hlr.Status
	}{
		{hlr.Cmd{Op: hlr.OpDeleteAccount}, hlr.Result{Status: hlr.StatusNotFound}, hlr.StatusOK},
		{hlr.Cmd{Op: hlr.OpFriendDecline}, hlr.Result{Status: hlr.StatusNoRequest}, hlr.StatusOK},
		{hlr.Cmd{Op: hlr.OpFriendAccept}, hlr.Result{Status: hlr.StatusNoRequest}, hlr.StatusNoRequest},
		// A resume already in the second form stands.
		{hlr.Cmd{Op: hlr.OpResume, Token: []byte("t1"), NewToken: []byte("t1")}, hlr.Result{Status: hlr.StatusNotFound}, hlr.StatusNotFound},
		{hlr.Cmd{Op: hlr.OpSend}, hlr.Result{Dup: true}, hlr.StatusOK},
		// Roles: a retried deletion's not_found is the first attempt's
		// work; a reclaim fence's refusal stands.
		{hlr.Cmd{Op: hlr.OpRoleUnlink}, hlr.Result{Status: hlr.StatusNotFound}, hlr.StatusOK},
		{hlr.Cmd{Op: hlr.OpRoleUnlink, Reason: hlr.RoleReclaim}, hlr.Result{Status: hlr.StatusRefused}, hlr.StatusRefused},
	} {
		got, err := r.settle(ctx, c.cmd, c.res)
		if err != nil || got.Status != c.want {
			t.Errorf("settle(%v, %v) = %v, %v; want status %v", c.cmd.Op, c.res.Status, got.Status, err, c.want)
		}
	}
}

// pidRecorder is a remoteCaller that records the partition of each
// request and answers it.
type pidRecorder struct{ pids []uint16 }

func (p *pidRecorder) exec(_ context.Context, pid uint16, _ hlr.Cmd, _ int) (hlr.Result, sendOutcome, error) {
	p.pids = append(p.pids, pid)
	return hlr.Result{}, sent, nil
}

func (p *pidRecorder) query(_ context.Context, pid uint16, _ hlr.Query, _ int) (*hlr.Answer, sendOutcome, error) {
	p.pids = append(p.pids, pid)
	return &hlr.Answer{}, sent, nil
}

// TestRouter_RoutesByPartitionKey: commands and queries go to the
// partition of their key — a user's name as always, "g/" + the group's
// name for a group's, whoever the user — never by User alone.
func TestRouter_RoutesByPartitionKey(t *testing.T) {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hc := hlr.DefaultConfig()
	hc.NodeID, hc.SnapshotDir = "n1", t.TempDir()
	host, err := hlr.New(hc, db, hlr.NopEffects{})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Shutdown()
	const P = 64
	rec := &pidRecorder{}
	r := newRouter(host, P, rec) // no partition open here: everything goes remote
	ctx := context.Background()
	// Names whose own partition differs from their group's.
	user, group := "ann", ""
	for i := 0; group == ""; i++ {
		if g := fmt.Sprint("team", i); ring.PartitionOf("g/"+g, P) != ring.PartitionOf(user, P) {
			group = g
		}
	}
	r.Exec(ctx, hlr.Cmd{Op: hlr.OpSend, User: user})
	r.Exec(ctx, hlr.Cmd{Op: hlr.OpSend, User: user, Group: group})
	r.Query(ctx, hlr.Query{Kind: hlr.QueryInbox, User: user})
	r.Query(ctx, hlr.Query{Kind: hlr.QueryInbox, User: user, Group: group})
	u, g := ring.PartitionOf(user, P), ring.PartitionOf("g/"+group, P)
	if want := []uint16{u, g, u, g}; !reflect.DeepEqual(rec.pids, want) {
		t.Fatalf("routed to %v, want %v", rec.pids, want)
	}
	if k := (hlr.Cmd{User: user, Group: group}).Key(); k != "g/"+group {
		t.Fatalf("group command key %q", k)
	}
	// A role's claim goes to the partition of its own key, its link to
	// the account's.
	role := ""
	for i := 0; role == ""; i++ {
		if n := fmt.Sprint("hero", i); ring.PartitionOf(hlr.RoleKey("europe", n), P) != u {
			role = n
		}
	}
	rec.pids = nil
	r.Exec(ctx, hlr.Cmd{Op: hlr.OpRoleClaim, User: user, NS: "europe", RoleName: role})
	r.Exec(ctx, hlr.Cmd{Op: hlr.OpRoleLink, User: user, NS: "europe", RoleName: role, ID: 1})
	if want := []uint16{ring.PartitionOf("r/europe/"+role, P), u}; !reflect.DeepEqual(rec.pids, want) {
		t.Fatalf("role commands routed to %v, want %v", rec.pids, want)
	}
}
