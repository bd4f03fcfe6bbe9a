package gate_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/pki"
	"github.com/roamhq/roam/vlr"
)

// leader is a Handler that leads every partition and prints what arrives.
type leader struct{ delivered chan string }

func (l *leader) Exec(ctx context.Context, pid uint16, cmd hlr.Cmd) (hlr.Result, error) {
	if pid == 7 {
		return hlr.Result{}, &gate.NotLeaderError{LeaderID: "n3", LeaderAddr: "10.0.0.3:7001"}
	}
	return hlr.Result{Status: hlr.StatusOK, Seq: 1}, nil
}

func (l *leader) Query(ctx context.Context, pid uint16, q hlr.Query) (*hlr.Answer, error) {
	return &hlr.Answer{Cursor: 41}, nil
}

func (l *leader) Deliver(from, user string, locs []hlr.Location, m *hlr.Message) {
	l.delivered <- fmt.Sprintf("deliver from %s to %s: %s", from, user, m.Body)
}
func (l *leader) Cancel(user string, loc hlr.Location, reason string)         {}
func (l *leader) Notify(user string, locs []hlr.Location, event, peer string) {}
func (l *leader) Presence(from string, ups []vlr.PresenceUpdate, full bool)   {}
func (l *leader) Notice(from string, ns []vlr.Notice)                         {}
func (l *leader) Ack(from string, acks []vlr.DeliveryAck)                     {}

// exampleKey is the cluster key of the example's nodes.
var exampleKey = []byte("an example cluster key, 32 bytes")

// start runs a node's internal port with a gate on it.
func start(id string, h gate.Handler) (*gate.Gate, *mux.Mux, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	// Every node of the example derives its certificate from the same
	// cluster key (pki's derived mode).
	ident, err := pki.Derived(exampleKey, id)
	if err != nil {
		panic(err)
	}
	m, err := mux.New(ln, mux.Security{Identity: ident}, nil)
	if err != nil {
		panic(err)
	}
	cfg := gate.DefaultConfig()
	cfg.NodeID, cfg.Mux, cfg.Handler = id, m, h
	g, err := gate.New(cfg)
	if err != nil {
		panic(err)
	}
	return g, m, m.Addr().String()
}

func Example() {
	b := &leader{delivered: make(chan string, 1)}
	gb, mb, addrB := start("n2", b)
	ga, ma, _ := start("n1", &leader{})
	defer func() { ga.Close(); ma.Close(); gb.Close(); mb.Close() }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A request forwarded to the partition leader on n2.
	res, err := ga.Exec(ctx, addrB, 3, hlr.Cmd{Op: hlr.OpSend, User: "ann", Peer: "bob", Body: []byte("hi")})
	fmt.Println(res.Status, res.Seq, err)

	// n2 does not lead partition 7: the error carries its hint.
	_, err = ga.Exec(ctx, addrB, 7, hlr.Cmd{Op: hlr.OpSend, User: "zed"})
	if nl, ok := err.(*gate.NotLeaderError); ok {
		fmt.Println("retry at", nl.LeaderID, nl.LeaderAddr)
	}

	// A committed message forwarded through the jump gate (one-way).
	ga.Deliver(addrB, "ann", []hlr.Location{{Device: "phone", Node: "n2", Epoch: 1}}, &hlr.Message{Seq: 1, Body: []byte("hi")})
	fmt.Println(<-b.delivered)
	// Output:
	// ok 1 <nil>
	// retry at n3 10.0.0.3:7001
	// deliver from n1 to ann: hi
}
