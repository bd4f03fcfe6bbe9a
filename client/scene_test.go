package client

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

// The client's scene state against the fake server: pushes become
// events, a resend is answered with the last position, a reconnect joins
// the scene again where the player was.
func TestScene_ClientPushesResendAndRejoin(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := c.SceneMove(ctx, 1, 1); !errors.Is(err, ErrNotInScene) {
		t.Fatalf("a move before a join: %v", err)
	}
	info, err := c.SceneJoin(ctx, "plaza", 1, 2)
	if err != nil || info.ID != 1 || info.Hear != 50 || info.MaxListeners != 200 {
		t.Fatalf("join: %+v %v", info, err)
	}
	if err := c.SceneMove(ctx, 3, 4); err != nil {
		t.Fatal(err)
	}
	if err := c.SceneSay(ctx, "hi"); err != nil {
		t.Fatal(err)
	}
	if err := c.SceneAct(ctx, "wave", []byte{1}); err != nil {
		t.Fatal(err)
	}
	waitFake := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			cl.mu.Lock()
			ok := cond()
			cl.mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the fake server never saw %s", what)
			}
		}
	}
	waitFake("the move", func() bool { return len(cl.scene.moves) == 1 && cl.scene.moves[0] == wire.SceneMove{X: 3, Y: 4} })
	cl.mu.Lock()
	if len(cl.scene.says) != 2 || cl.scene.says[0].(*wire.SceneSay).Text != "hi" || cl.scene.says[1].(*wire.SceneAct).Action != "wave" {
		t.Fatalf("says: %+v", cl.scene.says)
	}
	cl.mu.Unlock()

	conn := cl.nodes[0].conns("alice")[0]
	conn.write(wire.TSceneEvent, 0, &wire.SceneEvent{Scene: "plaza", Kind: "say", ID: 9, From: "bob", Text: "yo", X: 5, Y: 6, SentMS: 1000})
	ev := nextEvent(t, c, EventScene).SceneEvent
	if want := (SceneEvent{Scene: "plaza", Kind: "say", ID: 9, From: "bob", Text: "yo", X: 5, Y: 6, Sent: time.UnixMilli(1000)}); !reflect.DeepEqual(ev, want) {
		t.Fatalf("scene event %+v, want %+v", ev, want)
	}
	conn.write(wire.TSceneView, 0, &wire.SceneView{Scene: "plaza", Enter: []wire.ScenePlayer{{ID: 9, Name: "bob", X: 5, Y: 6}}, Leave: []uint64{7}})
	v := nextEvent(t, c, EventSceneView).SceneView
	if len(v.Enter) != 1 || v.Enter[0] != (ScenePlayer{ID: 9, Name: "bob", X: 5, Y: 6}) || len(v.Leave) != 1 || v.Leave[0] != 7 {
		t.Fatalf("view %+v", v)
	}
	// The host changed: the client sends its last position by itself.
	conn.write(wire.TSceneResend, 0, &wire.SceneResend{Scene: "plaza"})
	waitFake("the resent position", func() bool { return len(cl.scene.moves) == 2 && cl.scene.moves[1] == wire.SceneMove{X: 3, Y: 4} })
	if re := nextEvent(t, c, EventSceneRehosted).SceneInfo; re.Scene != "plaza" {
		t.Fatalf("rehosted %+v", re)
	}

	// A lost connection: the client resumes and joins again at (3, 4).
	cl.nodes[0].dropAll()
	joined := nextEvent(t, c, EventSceneJoined).SceneInfo
	if joined.ID != 2 || joined.Scene != "plaza" {
		t.Fatalf("rejoined as %+v", joined)
	}
	cl.mu.Lock()
	if j := cl.scene.joins[1]; j != (wire.SceneJoin{Scene: "plaza", X: 3, Y: 4}) {
		t.Fatalf("the rejoin was %+v", j)
	}
	cl.mu.Unlock()
	if sc, x, y := c.Scene(); sc != "plaza" || x != 3 || y != 4 {
		t.Fatalf("Scene() = %q %v %v", sc, x, y)
	}
	if err := c.SceneLeave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.SceneMove(ctx, 1, 1); !errors.Is(err, ErrNotInScene) {
		t.Fatalf("a move after leaving: %v", err)
	}
}
