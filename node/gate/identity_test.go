package gate

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
)

// TestHello_ClaimingAnotherNodeIsClosedUnserved: with node a's
// certificate, a hello that claims node c (and a query after it) is
// closed without the query being run or answered, and counted; the same
// connection with an honest hello is served.
func TestHello_ClaimingAnotherNodeIsClosedUnserved(t *testing.T) {
	var queries atomic.Int32
	h := &fakeHandler{query: func(ctx context.Context, pid uint16, q hlr.Query) (*hlr.Answer, error) {
		queries.Add(1)
		return &hlr.Answer{Cursor: 1}, nil
	}}
	b := startNode(t, "b", "", h, nil)
	query, _ := appendFrame(nil, frameQuery, 1, &queryBody{PID: 1, Query: hlr.Query{User: "alice"}}, minFrameCap)

	// exchange dials b as node a, says hello as claimed, sends the query
	// and returns the reply frames until the connection closes or goes
	// quiet.
	exchange := func(claimed string) (frames, replies int, closed bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := mux.Dial(ctx, testSec(t, "a"), b.addr, mux.KindGate, protoVersion)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hello, _ := appendFrame(nil, frameHello, 0, &helloBody{Node: claimed}, minFrameCap)
		if _, err := c.Write(append(hello, query...)); err != nil {
			t.Fatal(err)
		}
		d := newDecoder(minFrameCap)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			for {
				f, ok, err := d.next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				frames++
				if f.typ == frameReply && f.id != 0 { // id 0: the welcome
					replies++
					c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				}
			}
			if _, err := d.fill(c); err != nil {
				var ne net.Error
				return frames, replies, !(errors.As(err, &ne) && ne.Timeout())
			}
		}
	}

	for _, claimed := range []string{"c", "b", "A"} {
		frames, _, closed := exchange(claimed)
		if frames != 0 || !closed {
			t.Fatalf("hello as %q with a's certificate: %d frames back, closed=%v", claimed, frames, closed)
		}
	}
	if n := queries.Load(); n != 0 {
		t.Fatalf("%d queries of impostors were run", n)
	}
	if st := b.gate.Stats(); st.Impostors != 3 {
		t.Fatalf("impostors counted: %d", st.Impostors)
	}
	if _, replies, _ := exchange("a"); replies != 1 || queries.Load() != 1 {
		t.Fatalf("honest hello: %d replies, %d queries run", replies, queries.Load())
	}
}
