package node

import (
	"context"
	"testing"

	"github.com/roamhq/roam/hlr"
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
	} {
		got, err := r.settle(ctx, c.cmd, c.res)
		if err != nil || got.Status != c.want {
			t.Errorf("settle(%v, %v) = %v, %v; want status %v", c.cmd.Op, c.res.Status, got.Status, err, c.want)
		}
	}
}
