package node

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/roamhq/roam/node/gate"
)

// TestAskStatus_GateKindAndAdminStreamAgree: a node's partition status
// comes through the gate's status kind once the connection's welcome has
// listed it, and over the admin stream from the time before (a new
// connection; a node from before the gate carried it); both give the
// node's own view, and askStatus uses the gate once it can.
func TestAskStatus_GateKindAndAdminStreamAgree(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()))
	defer shutdown(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := n.InternalAddr() // the node asks itself: same certificate, same path
	want := n.partStatus(3)
	if !want.Open || !want.Leader || len(want.Servers) != 1 {
		t.Fatalf("own view %+v", want)
	}

	stream, err := n.askStatusStream(ctx, addr, 3)
	if err != nil || !sameStatus(stream, want) {
		t.Fatalf("admin stream: %+v, %v; want %+v", stream, err, want)
	}
	var viaGate partStatus
	for {
		err := n.gate.Call(ctx, addr, kindStatus, &statusReq{PID: 3}, &viaGate)
		if err == nil {
			break
		}
		if !errors.Is(err, gate.ErrUnsupported) || ctx.Err() != nil {
			t.Fatalf("status kind: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // the welcome is on its way
	}
	if !sameStatus(viaGate, want) {
		t.Fatalf("status kind: %+v, want %+v", viaGate, want)
	}
	before := n.gate.Stats().Requests
	got, err := n.askStatus(ctx, addr, 3)
	if err != nil || !sameStatus(got, want) {
		t.Fatalf("askStatus: %+v, %v", got, err)
	}
	if d := n.gate.Stats().Requests - before; d != 1 {
		t.Fatalf("askStatus made %d gate requests, want 1 (the gate, not the stream)", d)
	}
	if empty, err := n.askStatus(ctx, addr, 200); err != nil || empty.Open {
		t.Fatalf("status of a partition the node does not have: %+v, %v", empty, err)
	}
}

// sameStatus compares two views of one partition taken one after the
// other: the last index may have grown meanwhile (a new term's barrier).
func sameStatus(got, want partStatus) bool {
	if got.LastIndex < want.LastIndex {
		return false
	}
	got.LastIndex = want.LastIndex
	return reflect.DeepEqual(got, want)
}
