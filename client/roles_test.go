package client

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
)

// End-to-end tests of roles (PROTOCOL.md §18) against a real one-node
// cluster over TCP.

func roleNode(t *testing.T, max int) *node.Node {
	t.Helper()
	return startNodeWith(t, func(cfg *node.Config) {
		cfg.VLR.Roles.Rate, cfg.VLR.Roles.Burst = 1000, 10000
		cfg.VLR.Roles.Max = max
	})
}

func roleNames(t *testing.T, c *Client) []string {
	t.Helper()
	rs, _, err := c.Roles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, r := range rs {
		if r.Created.IsZero() || time.Since(r.Created) > time.Hour {
			t.Fatalf("role %+v: created %v", r, r.Created)
		}
		out = append(out, r.NS+"/"+r.Name)
	}
	return out
}

func TestRole_ClientCreateRenameDeleteList(t *testing.T) {
	n := roleNode(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice := groupUser(t, ctx, n, "alice", nil)
	bob := groupUser(t, ctx, n, "bob", nil)
	if _, max, err := alice.Roles(ctx); err != nil || max != 3 {
		t.Fatalf("roles: max %d, %v", max, err)
	}
	if got := roleNames(t, alice); len(got) != 0 {
		t.Fatalf("a new account has roles: %v", got)
	}
	// An empty namespace is the default one; names are folded.
	if err := alice.RoleCreate(ctx, "", "Knight"); err != nil {
		t.Fatal(err)
	}
	if err := alice.RoleCreate(ctx, "Europe", "mage"); err != nil {
		t.Fatal(err)
	}
	if got, want := roleNames(t, alice), []string{"default/knight", "europe/mage"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("roles %v, want %v", got, want)
	}
	for _, tc := range []struct {
		what string
		err  error
		want error
	}{
		{"bob takes alice's knight", bob.RoleCreate(ctx, "default", "KNIGHT"), ErrRoleTaken},
		{"bad name", alice.RoleCreate(ctx, "", "x"), ErrBadName},
		{"bad namespace", alice.RoleCreate(ctx, "a/b", "thief"), ErrBadName},
		{"rename a missing role", alice.RoleRename(ctx, "", "ghost", "spirit"), ErrRoleNotFound},
		{"delete a missing role", alice.RoleDelete(ctx, "", "ghost"), ErrRoleNotFound},
		{"pick bob's nothing", bob.PickRole(ctx, "", "knight"), ErrRoleNotFound},
		{"rename onto itself", alice.RoleRename(ctx, "", "knight", "knight"), ErrBadRequest},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, tc.err, tc.want)
		}
	}
	if err := alice.RoleCreate(ctx, "", "thief"); err != nil {
		t.Fatal(err)
	}
	if err := alice.RoleCreate(ctx, "", "bard"); !errors.Is(err, ErrRoleLimit) {
		t.Fatalf("fourth role at limit 3: %v", err)
	}
	if err := alice.RoleRename(ctx, "", "knight", "paladin"); err != nil {
		t.Fatal(err)
	}
	if err := alice.RoleDelete(ctx, "europe", "mage"); err != nil {
		t.Fatal(err)
	}
	if got, want := roleNames(t, alice), []string{"default/paladin", "default/thief"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("roles %v, want %v", got, want)
	}
	// The old names are free.
	if err := bob.RoleCreate(ctx, "", "knight"); err != nil {
		t.Fatalf("bob takes the renamed-away name: %v", err)
	}
	if err := bob.RoleCreate(ctx, "europe", "mage"); err != nil {
		t.Fatalf("bob takes the deleted name: %v", err)
	}
}

// The pick is the session's: the client picks it again when it resumes on
// a new connection, and drops it if the role went meanwhile.
func TestRole_ClientPicksTheRoleAgainAfterAReconnect(t *testing.T) {
	n := roleNode(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := groupUser(t, ctx, n, "carol", nil)
	other := groupDevice(t, n, "carol-other", nil)
	if err := other.Login(ctx, "carol", "pw-carol"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"scout", "smith"} {
		if err := c.RoleCreate(ctx, "", r); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PickRole(ctx, "", "scout"); err != nil {
		t.Fatal(err)
	}
	if ns, name := c.PickedRole(); ns != "default" || name != "scout" {
		t.Fatalf("picked %s/%s", ns, name)
	}
	cut := func() {
		t.Helper()
		c.mu.Lock()
		cn := c.cur
		c.mu.Unlock()
		cn.close(errors.New("test: cut"))
		nextEvent(t, c, EventReconnected)
	}
	cut()
	if w, err := c.Whoami(ctx); err != nil || w.Auth != "resume" || w.RoleNS != "default" || w.Role != "scout" {
		t.Fatalf("after the reconnect: %+v, %v", w, err)
	}
	// Another device deletes the role: the next resume drops the pick.
	if err := other.RoleDelete(ctx, "", "scout"); err != nil {
		t.Fatal(err)
	}
	cut()
	if w, err := c.Whoami(ctx); err != nil || w.Role != "" {
		t.Fatalf("after the role went: %+v, %v", w, err)
	}
	if _, name := c.PickedRole(); name != "" {
		t.Fatalf("the client still has %q picked", name)
	}
	// Dropping a pick.
	if err := c.PickRole(ctx, "", "smith"); err != nil {
		t.Fatal(err)
	}
	if err := c.PickRole(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	if w, err := c.Whoami(ctx); err != nil || w.Role != "" {
		t.Fatalf("after dropping the pick: %+v, %v", w, err)
	}
}
