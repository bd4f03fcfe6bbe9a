package sim

import "testing"

func TestKillClientConns(t *testing.T) {
	if err := canKillConns(); err != nil {
		t.Skipf("ss -K is not available here: %v", err)
	}
}
