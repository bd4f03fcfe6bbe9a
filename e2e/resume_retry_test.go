package e2e

import (
	"bytes"
	"testing"

	"github.com/roamhq/roam/wire"
)

// TestResume_RetriedAfterLostReplyKeepsSession: a resume whose reply the
// client never saw (the connection died after the server committed it) is
// retried with the same old token on a new connection, and gets the same
// answer, the rotated token, instead of session_invalid, which would log
// the user out in the middle of a failover (issue 12.4). The rotated token
// then works, and once it has been used the old one is dead.
func TestResume_RetriedAfterLostReplyKeepsSession(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "alice")
	a := loginAs(t, p.client, "alice", "phone")
	a.nc.Close()
	t0 := a.ok.Token

	resume := func(token []byte) (wire.Frame, *raw) {
		r, _ := hello(t, p.client)
		return r.reply(r.send(wire.TResume, &wire.Resume{User: "alice", Device: "phone", Token: token})), r
	}
	f, lost := resume(t0)
	if f.Type != wire.TLoginOK {
		t.Fatalf("first resume: %s (%s)", f.Type, describe(f))
	}
	var first wire.LoginOK
	wire.Decode(f.Body, &first)
	lost.nc.Close() // the client never saw this reply

	f, r := resume(t0)
	if f.Type != wire.TLoginOK {
		t.Fatalf("retried resume with the old token: %s (%s)", f.Type, describe(f))
	}
	var retry wire.LoginOK
	wire.Decode(f.Body, &retry)
	if !bytes.Equal(retry.Token, first.Token) || retry.Epoch <= first.Epoch {
		t.Fatalf("retry answered token %x epoch %d; the first attempt %x epoch %d", retry.Token, retry.Epoch, first.Token, first.Epoch)
	}
	r.nc.Close()

	f, r = resume(retry.Token)
	if f.Type != wire.TLoginOK {
		t.Fatalf("resume with the rotated token: %s (%s)", f.Type, describe(f))
	}
	r.nc.Close()
	f, _ = resume(t0)
	if f.Type != wire.TError {
		t.Fatalf("the old token still resumes after its successor was used: %s", f.Type)
	}
	var e wire.Error
	wire.Decode(f.Body, &e)
	if e.Code != wire.CodeSessionInvalid {
		t.Fatalf("old token: %s", e.Code.Name())
	}
}
