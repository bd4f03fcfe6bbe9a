package vlr

import (
	"errors"
	"sync"
	"testing"

	"github.com/roamhq/roam/wire"
)

func TestRoleNames_FoldAndRefuseWithBadName(t *testing.T) {
	ns, name, err := roleNames("", "Knight")
	if err != nil || ns != wire.DefaultRoleNS || name != "knight" {
		t.Fatalf("default namespace: %q %q %v", ns, name, err)
	}
	if ns, _, err := roleNames("EUROPE", "mage"); err != nil || ns != "europe" {
		t.Fatalf("namespace folding: %q %v", ns, err)
	}
	for _, tc := range [][2]string{{"eu", "knight"}, {"a/b", "knight"}, {"europe", "k"}, {"europe", "r/x"}, {"europe", "1abc"}} {
		_, _, err := roleNames(tc[0], tc[1])
		var re *reqError
		if !errors.As(err, &re) || re.code != wire.CodeBadName {
			t.Errorf("%q/%q: %v, want bad_name", tc[0], tc[1], err)
		}
	}
}

// The picked role is read by other goroutines (scenes) while the
// connection changes it; roleName is "" when none is picked, and a rename
// or deletion of another role leaves the pick alone.
func TestRolePick_SessionRoleNameFollowsRenameAndDelete(t *testing.T) {
	s := &session{}
	if s.roleName() != "" || s.roleNS() != "" {
		t.Fatal("a new session has a role")
	}
	s.role.set("europe", "knight")
	s.role.swap("europe", "mage", "")      // another role went
	s.role.swap("america", "knight", "x1") // same name, other namespace
	if s.roleNS() != "europe" || s.roleName() != "knight" {
		t.Fatalf("pick changed by another role: %s/%s", s.roleNS(), s.roleName())
	}
	s.role.swap("europe", "knight", "paladin")
	if s.roleName() != "paladin" {
		t.Fatalf("after rename: %q", s.roleName())
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			_ = s.roleName()
		}
	}()
	for i := 0; i < 1000; i++ {
		s.role.set("europe", "paladin")
	}
	wg.Wait()
	s.role.swap("europe", "paladin", "")
	if s.roleName() != "" || s.roleNS() != "" {
		t.Fatalf("after delete: %s/%s", s.roleNS(), s.roleName())
	}
}
