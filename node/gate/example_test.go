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
)

// The kinds of the example, an append-only enum like the node's.
const (
	kindExec    gate.Kind = 2 // request: a command at a partition leader
	kindDeliver gate.Kind = 5 // one-way: a message for devices of the node
)

// execReq and execResp are the bodies of kindExec. Embedding
// gate.Deadline carries the caller's deadline to the serving side.
type execReq struct {
	gate.Deadline `msgpack:",inline"`
	PID           uint16  `msgpack:"p"`
	Cmd           hlr.Cmd `msgpack:"c"`
}

type execResp struct {
	Status hlr.Status `msgpack:"s"`
	Seq    uint64     `msgpack:"q,omitempty"`
}

type deliverBody struct {
	User string       `msgpack:"u"`
	Msg  *hlr.Message `msgpack:"m"`
}

// exampleKey is the cluster key of the example's nodes.
var exampleKey = []byte("an example cluster key, 32 bytes")

// start runs a node's internal port with a gate on it that leads every
// partition but 7 and prints the messages delivered to it.
func start(id string, delivered chan<- string) (*gate.Gate, *mux.Mux, string) {
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
	cfg.NodeID, cfg.Mux = id, m
	g, err := gate.New(cfg)
	if err != nil {
		panic(err)
	}
	// One registration per kind, then Start serves them.
	g.Handle(kindExec, gate.Request("exec", func(ctx context.Context, from string, r *execReq) (*execResp, error) {
		if r.PID == 7 {
			return nil, &gate.NotLeaderError{LeaderID: "n3", LeaderAddr: "10.0.0.3:7001"}
		}
		return &execResp{Status: hlr.StatusOK, Seq: 1}, nil
	}))
	g.Handle(kindDeliver, gate.OneWay("deliver", func(from string, b *deliverBody) {
		delivered <- fmt.Sprintf("deliver from %s to %s: %s", from, b.User, b.Msg.Body)
	}))
	g.Start()
	return g, m, m.Addr().String()
}

func Example() {
	delivered := make(chan string, 1)
	gb, mb, addrB := start("n2", delivered)
	ga, ma, _ := start("n1", nil)
	defer func() { ga.Close(); ma.Close(); gb.Close(); mb.Close() }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A request forwarded to the partition leader on n2.
	var res execResp
	err := ga.Call(ctx, addrB, kindExec, &execReq{PID: 3, Cmd: hlr.Cmd{Op: hlr.OpSend, User: "ann", Peer: "bob", Body: []byte("hi")}}, &res)
	fmt.Println(res.Status, res.Seq, err)

	// n2 does not lead partition 7: the error carries its hint.
	err = ga.Call(ctx, addrB, kindExec, &execReq{PID: 7, Cmd: hlr.Cmd{Op: hlr.OpSend, User: "zed"}}, nil)
	if nl, ok := err.(*gate.NotLeaderError); ok {
		fmt.Println("retry at", nl.LeaderID, nl.LeaderAddr)
	}

	// A committed message forwarded through the jump gate (one-way).
	ga.Send(addrB, kindDeliver, &deliverBody{User: "ann", Msg: &hlr.Message{Seq: 1, Body: []byte("hi")}})
	fmt.Println(<-delivered)
	// Output:
	// ok 1 <nil>
	// retry at n3 10.0.0.3:7001
	// deliver from n1 to ann: hi
}
