package node_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
)

// Roles over real TCP (vlr/conn_roles.go, hlr/role.go). Node 0 reclaims
// another account's claim at once (ReclaimAfter 0: every collision runs
// the fence), nodes 1 and 2 only after the default grace.
func roleLimits(i int, cfg *node.Config) {
	fastSends(i, cfg)
	cfg.VLR.Roles.Rate, cfg.VLR.Roles.Burst = 100000, 100000
	if i == 0 {
		cfg.VLR.Roles.ReclaimAfter = 0
	}
}

func roleList(t *testing.T, cl *client.Client) []string {
	t.Helper()
	rs, _, err := cl.Roles(ctx30())
	if err != nil {
		t.Fatalf("%s: roles: %v", cl.User(), err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.NS+"/"+r.Name)
	}
	return out
}

func hasRole(t *testing.T, cl *client.Client, ns, name string) bool {
	t.Helper()
	for _, r := range roleList(t, cl) {
		if r == ns+"/"+name {
			return true
		}
	}
	return false
}

func whoamiRole(t *testing.T, cl *client.Client) string {
	t.Helper()
	w, err := cl.Whoami(ctx30())
	if err != nil {
		t.Fatalf("%s whoami: %v", cl.User(), err)
	}
	if w.Role == "" {
		return ""
	}
	return w.RoleNS + "/" + w.Role
}

func TestRoles_OverTCPOnThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: roleLimits})
	c.WaitLeaders(30 * time.Second)

	t.Run("RaceForOneNameExactlyOneWins", func(t *testing.T) {
		// Rounds 0-3 race through nodes 1 and 2 (the loser is refused at
		// its claim), rounds 4-7 through node 0 (the loser fences the
		// winner's claim: refused if it is linked, else it takes the name
		// and the winner's link is refused).
		a1, b2 := account(t, c, 1, "racer-a"), account(t, c, 2, "racer-b")
		a0, b0 := dial(t, c, 0, "racer-a-dev0"), dial(t, c, 0, "racer-b-dev0")
		for _, p := range []struct {
			cl   *client.Client
			user string
		}{{a0, "racer-a"}, {b0, "racer-b"}} {
			if err := p.cl.Login(ctx30(), p.user, "pw-"+p.user); err != nil {
				t.Fatal(err)
			}
		}
		wins := map[string]int{}
		for round := 0; round < 8; round++ {
			a, b := a1, b2
			if round >= 4 {
				a, b = a0, b0
			}
			name := fmt.Sprintf("hero%d", round)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, cl := range []*client.Client{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = cl.RoleCreate(ctx30(), "europe", name)
				}()
			}
			wg.Wait()
			won := -1
			for i, err := range errs {
				switch {
				case err == nil:
					if won >= 0 {
						t.Fatalf("round %d: both accounts created %s", round, name)
					}
					won = i
				case !errors.Is(err, client.ErrRoleTaken):
					t.Fatalf("round %d: %v, want nil or role_taken", round, err)
				}
			}
			if won < 0 {
				t.Fatalf("round %d: nobody got %s: %v", round, name, errs)
			}
			winner, loser := []*client.Client{a, b}[won], []*client.Client{a, b}[1-won]
			if !hasRole(t, winner, "europe", name) || hasRole(t, loser, "europe", name) {
				t.Fatalf("round %d: winner %s lists %v, loser %s lists %v", round, winner.User(), roleList(t, winner), loser.User(), roleList(t, loser))
			}
			// The loser cannot take it afterwards either.
			if err := loser.RoleCreate(ctx30(), "europe", name); !errors.Is(err, client.ErrRoleTaken) {
				t.Fatalf("round %d: the loser's second try: %v", round, err)
			}
			wins[winner.User()]++
		}
		t.Logf("wins: %v", wins)
	})

	t.Run("RoleLimitAndTheRefusedNameStaysFree", func(t *testing.T) {
		cl := account(t, c, 1, "collector")
		if _, max, err := cl.Roles(ctx30()); err != nil || max != hlr.DefaultMaxRoles {
			t.Fatalf("roles: max %d, %v", max, err)
		}
		for i := 0; i < hlr.DefaultMaxRoles; i++ {
			if err := cl.RoleCreate(ctx30(), "", fmt.Sprintf("char%d", i)); err != nil {
				t.Fatalf("role %d: %v", i, err)
			}
		}
		if err := cl.RoleCreate(ctx30(), "", "char8"); !errors.Is(err, client.ErrRoleLimit) {
			t.Fatalf("ninth role: %v, want role_limit", err)
		}
		if n := len(roleList(t, cl)); n != hlr.DefaultMaxRoles {
			t.Fatalf("%d roles, want %d", n, hlr.DefaultMaxRoles)
		}
		// Creating one it has succeeds (a retry), and does not count.
		if err := cl.RoleCreate(ctx30(), "default", "CHAR3"); err != nil {
			t.Fatalf("re-create: %v", err)
		}
		// The refused create released its claim: anyone may have the name
		// (through node 2: no reclaim involved).
		other := account(t, c, 2, "latecomer")
		if err := other.RoleCreate(ctx30(), "", "char8"); err != nil {
			t.Fatalf("the refused name is not free: %v", err)
		}
	})

	t.Run("PickRoleOnTwoDevicesAndWhoami", func(t *testing.T) {
		d1 := account(t, c, 0, "twin")
		d2 := dial(t, c, 2, "twin-dev2")
		if err := d2.Login(ctx30(), "twin", "pw-twin"); err != nil {
			t.Fatal(err)
		}
		stranger := account(t, c, 1, "stranger")
		for _, n := range []string{"archer", "bard"} {
			if err := d1.RoleCreate(ctx30(), "europe", n); err != nil {
				t.Fatal(err)
			}
		}
		if err := stranger.RoleCreate(ctx30(), "europe", "cleric"); err != nil {
			t.Fatal(err)
		}
		if got := whoamiRole(t, d1); got != "" {
			t.Fatalf("role before any pick: %q", got)
		}
		if err := d1.PickRole(ctx30(), "europe", "archer"); err != nil {
			t.Fatal(err)
		}
		if err := d2.PickRole(ctx30(), "EUROPE", "Bard"); err != nil {
			t.Fatal(err)
		}
		if g1, g2 := whoamiRole(t, d1), whoamiRole(t, d2); g1 != "europe/archer" || g2 != "europe/bard" {
			t.Fatalf("whoami: device 1 %q, device 2 %q", g1, g2)
		}
		// Another account's role, and a role nobody has, are refused and
		// leave the pick as it was.
		for _, n := range []string{"cleric", "nobody"} {
			if err := d1.PickRole(ctx30(), "europe", n); !errors.Is(err, client.ErrRoleNotFound) {
				t.Fatalf("pick %s: %v, want role_not_found", n, err)
			}
		}
		if err := d1.PickRole(ctx30(), "america", "archer"); !errors.Is(err, client.ErrRoleNotFound) {
			t.Fatalf("pick archer in another namespace: %v", err)
		}
		if g := whoamiRole(t, d1); g != "europe/archer" {
			t.Fatalf("after refused picks: %q", g)
		}
		// A rename follows the pick of the session that made it; a
		// deletion drops it.
		if err := d1.RoleRename(ctx30(), "europe", "archer", "ranger"); err != nil {
			t.Fatal(err)
		}
		if g := whoamiRole(t, d1); g != "europe/ranger" {
			t.Fatalf("after rename: %q", g)
		}
		if err := d1.RoleRename(ctx30(), "europe", "ranger", "cleric"); !errors.Is(err, client.ErrRoleTaken) {
			t.Fatalf("rename onto another account's role: %v", err)
		}
		if err := d2.RoleDelete(ctx30(), "europe", "bard"); err != nil {
			t.Fatal(err)
		}
		if g := whoamiRole(t, d2); g != "" {
			t.Fatalf("after deleting the picked role: %q", g)
		}
		if got := roleList(t, d2); len(got) != 1 || got[0] != "europe/ranger" {
			t.Fatalf("roles: %v", got)
		}
		if err := d2.PickRole(ctx30(), "europe", "bard"); !errors.Is(err, client.ErrRoleNotFound) {
			t.Fatalf("pick of the deleted role: %v", err)
		}
		// The old names are free for anyone.
		for _, n := range []string{"archer", "bard"} {
			if err := stranger.RoleCreate(ctx30(), "europe", n); err != nil {
				t.Fatalf("stranger takes %s: %v", n, err)
			}
		}
	})

	t.Run("AccountDeletionReleasesItsRoles", func(t *testing.T) {
		leaver := account(t, c, 1, "leaver")
		if err := leaver.RoleCreate(ctx30(), "europe", "ghost"); err != nil {
			t.Fatal(err)
		}
		heir := account(t, c, 2, "heir")
		if err := heir.RoleCreate(ctx30(), "europe", "ghost"); !errors.Is(err, client.ErrRoleTaken) {
			t.Fatalf("before the deletion: %v", err)
		}
		if err := leaver.DeleteAccount(ctx30(), "pw-leaver"); err != nil {
			t.Fatal(err)
		}
		// The release travels through the outbox.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			err := heir.RoleCreate(ctx30(), "europe", "ghost")
			if err == nil {
				break
			}
			if !errors.Is(err, client.ErrRoleTaken) || time.Now().After(deadline) {
				t.Fatalf("after the deletion: %v", err)
			}
		}
	})

	t.Run("OrphanClaimIsReclaimedAndTheLateLinkRefused", func(t *testing.T) {
		stuck := account(t, c, 1, "stuck")
		// stuck's create stopped after its claim.
		orphan, err := c.Node(1).ExecCmd(ctx30(), hlr.Cmd{Op: hlr.OpRoleClaim, User: stuck.User(), NS: "europe", RoleName: "relic"})
		if err != nil || orphan.Status != hlr.StatusOK {
			t.Fatalf("claim: %+v, %v", orphan, err)
		}
		// Within the grace (node 2) the name is taken.
		patient := account(t, c, 2, "patient")
		if err := patient.RoleCreate(ctx30(), "europe", "relic"); !errors.Is(err, client.ErrRoleTaken) {
			t.Fatalf("within the grace: %v", err)
		}
		// Node 0 reclaims at once.
		taker := account(t, c, 0, "taker")
		if err := taker.RoleCreate(ctx30(), "europe", "relic"); err != nil {
			t.Fatalf("reclaim: %v", err)
		}
		late, err := c.Node(2).ExecCmd(ctx30(), hlr.Cmd{Op: hlr.OpRoleLink, User: stuck.User(), NS: "europe", RoleName: "relic", ID: orphan.Claim.ID})
		if err != nil || late.Status != hlr.StatusRefused {
			t.Fatalf("the orphan's late link: %+v, %v; want refused", late, err)
		}
		if hasRole(t, stuck, "europe", "relic") || !hasRole(t, taker, "europe", "relic") {
			t.Fatalf("stuck %v, taker %v", roleList(t, stuck), roleList(t, taker))
		}
		// A listed role is never reclaimed, even with no grace.
		if err := stuck.RoleCreate(ctx30(), "europe", "keep"); err != nil {
			t.Fatal(err)
		}
		other := account(t, c, 0, "grabber")
		if err := other.RoleCreate(ctx30(), "europe", "keep"); !errors.Is(err, client.ErrRoleTaken) {
			t.Fatalf("reclaim of a listed role: %v", err)
		}
	})
}
