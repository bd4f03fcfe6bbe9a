package hlr

import (
	"reflect"
	"testing"
)

// createRole runs the vlr's create steps: claim, then link.
func (r *fsmRig) createRole(user, ns, name string) (claim, link Result) {
	r.t.Helper()
	claim = r.one(Cmd{Op: OpRoleClaim, User: user, NS: ns, RoleName: name})
	if claim.Status != StatusOK {
		return claim, Result{}
	}
	link = r.one(Cmd{Op: OpRoleLink, User: user, NS: ns, RoleName: name, ID: claim.Claim.ID})
	return claim, link
}

func roleNames(t *testing.T, r *fsmRig, user string) []string {
	t.Helper()
	rs, err := r.view().Roles(user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range rs {
		out = append(out, x.NS+"/"+x.Name)
	}
	return out
}

func claimOwner(t *testing.T, r *fsmRig, ns, name string) string {
	t.Helper()
	c, err := r.view().RoleClaimOf(ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if c == nil {
		return ""
	}
	return c.Owner
}

func TestRole_KeyRoutesClaimsToTheNamesPartition(t *testing.T) {
	for _, c := range []struct {
		cmd  Cmd
		want string
	}{
		{Cmd{Op: OpRoleClaim, User: "alice", NS: "eu", RoleName: "knight"}, "r/eu/knight"},
		{Cmd{Op: OpRoleRelease, User: "alice", NS: "eu", RoleName: "knight", ID: 1}, "r/eu/knight"},
		{Cmd{Op: OpRoleLink, User: "alice", NS: "eu", RoleName: "knight", ID: 1}, "alice"},
		{Cmd{Op: OpRoleUnlink, User: "alice", NS: "eu", RoleName: "knight"}, "alice"},
	} {
		if got := c.cmd.Key(); got != c.want {
			t.Errorf("%v: key %q, want %q", c.cmd.Op, got, c.want)
		}
	}
}

func TestRole_LimitIsEightAndCompensatingReleaseFreesTheName(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice")
	for i := 0; i < DefaultMaxRoles; i++ {
		name := string(rune('a'+i)) + "hero"
		if c, l := r.createRole("alice", "eu", name); c.Status != StatusOK || l.Status != StatusOK {
			t.Fatalf("role %d: claim %+v link %+v", i, c, l)
		}
	}
	c, l := r.createRole("alice", "eu", "ninth")
	if c.Status != StatusOK || l.Status != StatusFull {
		t.Fatalf("ninth role: claim %+v link %+v, want the link refused with StatusFull", c, l)
	}
	if rel := r.one(Cmd{Op: OpRoleRelease, User: "alice", NS: "eu", RoleName: "ninth", ID: c.Claim.ID}); rel.Status != StatusOK || rel.Dup {
		t.Fatalf("compensating release: %+v", rel)
	}
	if o := claimOwner(t, r, "eu", "ninth"); o != "" {
		t.Fatalf("ninth still claimed by %q after the release", o)
	}
	if n := len(roleNames(t, r, "alice")); n != DefaultMaxRoles {
		t.Fatalf("alice has %d roles, want %d", n, DefaultMaxRoles)
	}
	// A configured limit replaces the default.
	r.register("bob")
	r.createRole("bob", "eu", "one")
	c = r.one(Cmd{Op: OpRoleClaim, User: "bob", NS: "eu", RoleName: "two"})
	if l := r.one(Cmd{Op: OpRoleLink, User: "bob", NS: "eu", RoleName: "two", ID: c.Claim.ID, Limit: 1}); l.Status != StatusFull {
		t.Fatalf("second role at limit 1: %+v", l)
	}
}

func TestRole_CreateRetryWithTheSameRequestIsIdempotent(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice")
	claim := Cmd{Op: OpRoleClaim, User: "alice", NS: "eu", RoleName: "knight"}
	first := r.one(claim)
	again := r.one(claim)
	if first.Status != StatusOK || first.Dup || again.Status != StatusOK || !again.Dup || again.Claim.ID <= first.Claim.ID {
		t.Fatalf("claim %+v then its retry %+v: want OK, then Dup under a newer id", first, again)
	}
	// The two links arrive out of order: the newer id stays.
	if l := r.one(Cmd{Op: OpRoleLink, User: "alice", NS: "eu", RoleName: "knight", ID: again.Claim.ID}); l.Status != StatusOK || l.Dup {
		t.Fatalf("link: %+v", l)
	}
	if l := r.one(Cmd{Op: OpRoleLink, User: "alice", NS: "eu", RoleName: "knight", ID: first.Claim.ID}); l.Status != StatusOK || !l.Dup {
		t.Fatalf("retried link: %+v", l)
	}
	rs, _ := r.view().Roles("alice")
	if len(rs) != 1 || rs[0].Claim != again.Claim.ID {
		t.Fatalf("roles %+v, want one holding claim %d", rs, again.Claim.ID)
	}
	// The release of the first attempt's id (a late compensation) leaves
	// the claim alone.
	if rel := r.one(Cmd{Op: OpRoleRelease, User: "alice", NS: "eu", RoleName: "knight", ID: first.Claim.ID}); !rel.Dup {
		t.Fatalf("stale release: %+v", rel)
	}
	if o := claimOwner(t, r, "eu", "knight"); o != "alice" {
		t.Fatalf("claim owner %q after a stale release", o)
	}
}

func TestRole_ClaimCollidesAcrossAccountsButNotAcrossNamespaces(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.createRole("alice", "eu", "knight")
	r.now += 5000
	got := r.one(Cmd{Op: OpRoleClaim, User: "bob", NS: "eu", RoleName: "knight"})
	if got.Status != StatusExists || got.Claim == nil || got.Claim.Owner != "alice" || got.Claim.AgeMS != 5000 {
		t.Fatalf("bob's claim: %+v (claim %+v), want StatusExists with alice's claim aged 5000 ms", got, got.Claim)
	}
	if c, l := r.createRole("bob", "us", "knight"); c.Status != StatusOK || l.Status != StatusOK {
		t.Fatalf("knight in another namespace: %+v %+v", c, l)
	}
	if !reflect.DeepEqual(roleNames(t, r, "bob"), []string{"us/knight"}) {
		t.Fatalf("bob's roles: %v", roleNames(t, r, "bob"))
	}
}

func TestRole_RenameMovesTheClaim(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	first, _ := r.createRole("alice", "eu", "knight")
	c := r.one(Cmd{Op: OpRoleClaim, User: "alice", NS: "eu", RoleName: "paladin"})
	l := r.one(Cmd{Op: OpRoleLink, User: "alice", NS: "eu", RoleName: "paladin", OldName: "knight", ID: c.Claim.ID, Limit: 1})
	if l.Status != StatusOK || l.Role == nil || l.Role.Name != "knight" || l.Role.Claim != first.Claim.ID {
		t.Fatalf("rename link (at the limit, which a rename does not grow): %+v", l)
	}
	if rel := r.one(Cmd{Op: OpRoleRelease, User: "alice", NS: "eu", RoleName: "knight", ID: l.Role.Claim}); rel.Status != StatusOK || rel.Dup {
		t.Fatalf("release of the old name: %+v", rel)
	}
	if got := roleNames(t, r, "alice"); !reflect.DeepEqual(got, []string{"eu/paladin"}) {
		t.Fatalf("roles after rename: %v", got)
	}
	if c, l := r.createRole("bob", "eu", "knight"); c.Status != StatusOK || l.Status != StatusOK {
		t.Fatalf("bob takes the old name: %+v %+v", c, l)
	}
	// Renaming a role alice does not have is refused.
	c = r.one(Cmd{Op: OpRoleClaim, User: "alice", NS: "eu", RoleName: "mage"})
	if l := r.one(Cmd{Op: OpRoleLink, User: "alice", NS: "eu", RoleName: "mage", OldName: "ghost", ID: c.Claim.ID}); l.Status != StatusNotFound {
		t.Fatalf("rename of a missing role: %+v", l)
	}
}

func TestRole_DeleteUnlinksThenReleases(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	c, _ := r.createRole("alice", "eu", "knight")
	u := r.one(Cmd{Op: OpRoleUnlink, User: "alice", NS: "eu", RoleName: "knight"})
	if u.Status != StatusOK || u.Role == nil || u.Role.Claim != c.Claim.ID {
		t.Fatalf("unlink: %+v", u)
	}
	if again := r.one(Cmd{Op: OpRoleUnlink, User: "alice", NS: "eu", RoleName: "knight"}); again.Status != StatusNotFound {
		t.Fatalf("second unlink: %+v", again)
	}
	if rel := r.one(Cmd{Op: OpRoleRelease, User: "alice", NS: "eu", RoleName: "knight", ID: u.Role.Claim}); rel.Status != StatusOK || rel.Dup {
		t.Fatalf("release: %+v", rel)
	}
	if len(roleNames(t, r, "alice")) != 0 || claimOwner(t, r, "eu", "knight") != "" {
		t.Fatalf("after delete: roles %v, claim %q", roleNames(t, r, "alice"), claimOwner(t, r, "eu", "knight"))
	}
	if c, l := r.createRole("bob", "eu", "knight"); c.Status != StatusOK || l.Status != StatusOK {
		t.Fatalf("bob takes the freed name: %+v %+v", c, l)
	}
}

func TestRole_AccountDeletionReleasesEveryRole(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.createRole("alice", "eu", "knight")
	r.createRole("alice", "us", "mage")
	res := r.one(Cmd{Op: OpDeleteAccount, User: "alice"})
	if res.Status != StatusOK || !res.Outbox {
		t.Fatalf("delete account: %+v", res)
	}
	if len(roleNames(t, r, "alice")) != 0 {
		t.Fatalf("role records survive the account: %v", roleNames(t, r, "alice"))
	}
	if claimOwner(t, r, "eu", "knight") != "alice" {
		t.Fatal("the claim went before the outbox delivered its release")
	}
	r.deliverOutbox()
	for _, n := range [][2]string{{"eu", "knight"}, {"us", "mage"}} {
		if o := claimOwner(t, r, n[0], n[1]); o != "" {
			t.Fatalf("%s/%s still claimed by %q after the account's deletion", n[0], n[1], o)
		}
	}
	if c, l := r.createRole("bob", "eu", "knight"); c.Status != StatusOK || l.Status != StatusOK {
		t.Fatalf("bob takes the deleted account's name: %+v %+v", c, l)
	}
}

// A release from an account's deletion that arrives after the name was
// registered again and the role created again must not free the new claim.
func TestRole_LateReleaseOfADeletedAccountKeepsTheNewClaim(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice")
	r.createRole("alice", "eu", "knight")
	r.one(Cmd{Op: OpDeleteAccount, User: "alice"}) // its release waits in the outbox
	r.register("alice")
	if c, l := r.createRole("alice", "eu", "knight"); c.Status != StatusOK || !c.Dup || l.Status != StatusOK {
		t.Fatalf("re-create: %+v %+v", c, l)
	}
	r.deliverOutbox()
	if o := claimOwner(t, r, "eu", "knight"); o != "alice" {
		t.Fatalf("the late release freed the new claim (owner %q)", o)
	}
}

func TestRole_OrphanClaimIsReclaimedAndTheLateLinkRefused(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	// alice's create stopped after its claim.
	orphan := r.one(Cmd{Op: OpRoleClaim, User: "alice", NS: "eu", RoleName: "knight"})
	got := r.one(Cmd{Op: OpRoleClaim, User: "bob", NS: "eu", RoleName: "knight"})
	if got.Status != StatusExists || got.Claim.ID != orphan.Claim.ID {
		t.Fatalf("bob's claim: %+v", got)
	}
	fence := Cmd{Op: OpRoleUnlink, User: "alice", NS: "eu", RoleName: "knight", Reason: RoleReclaim, ID: got.Claim.ID}
	if f := r.one(fence); f.Status != StatusOK {
		t.Fatalf("fence: %+v", f)
	}
	if rel := r.one(Cmd{Op: OpRoleRelease, User: "alice", NS: "eu", RoleName: "knight", ID: got.Claim.ID}); rel.Status != StatusOK || rel.Dup {
		t.Fatalf("release of the orphan: %+v", rel)
	}
	if c, l := r.createRole("bob", "eu", "knight"); c.Status != StatusOK || l.Status != StatusOK {
		t.Fatalf("bob's reclaim: %+v %+v", c, l)
	}
	// alice's link, in flight all along, arrives: refused.
	if l := r.one(Cmd{Op: OpRoleLink, User: "alice", NS: "eu", RoleName: "knight", ID: orphan.Claim.ID}); l.Status != StatusRefused {
		t.Fatalf("alice's late link: %+v, want StatusRefused", l)
	}
	if len(roleNames(t, r, "alice")) != 0 || claimOwner(t, r, "eu", "knight") != "bob" {
		t.Fatalf("alice %v, owner %q", roleNames(t, r, "alice"), claimOwner(t, r, "eu", "knight"))
	}
}

func TestRole_ReclaimFenceRefusedWhileTheOwnerListsTheRole(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice")
	c, _ := r.createRole("alice", "eu", "knight")
	if f := r.one(Cmd{Op: OpRoleUnlink, User: "alice", NS: "eu", RoleName: "knight", Reason: RoleReclaim, ID: c.Claim.ID}); f.Status != StatusRefused {
		t.Fatalf("fence of a listed role: %+v", f)
	}
	if !reflect.DeepEqual(roleNames(t, r, "alice"), []string{"eu/knight"}) {
		t.Fatalf("alice's roles: %v", roleNames(t, r, "alice"))
	}
}

func TestRole_BadInputIsInvalid(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice")
	for _, c := range []Cmd{
		{Op: OpRoleClaim, User: "alice", NS: "", RoleName: "knight"},
		{Op: OpRoleClaim, User: "alice", NS: "eu", RoleName: ""},
		{Op: OpRoleClaim, User: "alice", NS: "e/u", RoleName: "knight"},
		{Op: OpRoleClaim, User: "alice", NS: "eu", RoleName: "kn\x00ight"},
		{Op: OpRoleRelease, User: "alice", NS: "eu", RoleName: "knight"}, // no id
		{Op: OpRoleLink, User: "alice", NS: "eu", RoleName: "knight"},    // no id
		{Op: OpRoleUnlink, User: "alice", NS: "eu", RoleName: "knight", Reason: "other"},
	} {
		if res := r.one(c); res.Status != StatusInvalid {
			t.Errorf("%+v: %+v, want StatusInvalid", c, res)
		}
	}
	// A link for an account that does not exist is refused.
	if l := r.one(Cmd{Op: OpRoleLink, User: "ghost", NS: "eu", RoleName: "knight", ID: 1}); l.Status != StatusNotFound {
		t.Fatalf("link without an account: %+v", l)
	}
}
