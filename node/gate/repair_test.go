package gate

import (
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/vlr"
)

// TestDropOneWay_DiscardsChosenKinds: the receiving side's fault hook sees
// every one-way item's kind, discards the ones it picks (counted), and the
// others arrive as usual; the connection stays up.
func TestDropOneWay_DiscardsChosenKinds(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]int{}
	b := startNode(t, "b", "", nil, func(c *Config) {
		c.DropOneWay = func(kind string) bool {
			mu.Lock()
			asked[kind]++
			mu.Unlock()
			return kind == "deliver" || kind == "ack"
		}
	})
	a := startNode(t, "a", "", nil, nil)
	// Notices and acks go only once the welcome is in: wait for it.
	waitFor(t, 5*time.Second, "a notice to get through", func() bool {
		a.gate.Notice(b.addr, []vlr.Notice{{User: "w", Device: "d", Epoch: 1, Head: 1}})
		time.Sleep(5 * time.Millisecond)
		return b.h.count() > 0
	})
	before := b.h.count()
	for i := 0; i < 10; i++ {
		a.gate.Deliver(b.addr, "u", nil, &hlr.Message{Seq: uint64(i)})
		a.gate.Ack(b.addr, []vlr.DeliveryAck{{User: "u", Device: "d", Epoch: 1, Seq: uint64(i)}})
		a.gate.Cancel(b.addr, "u", hlr.Location{Device: "d", Node: "b", Epoch: 1}, "session_replaced")
		a.gate.Notice(b.addr, []vlr.Notice{{User: "u", Device: "d", Epoch: 1, Head: uint64(i)}})
	}
	waitFor(t, 5*time.Second, "the kept items", func() bool { return b.h.count() >= before+20 })
	time.Sleep(20 * time.Millisecond)
	for _, it := range b.h.received()[before:] {
		if it.Kind != "cancel" && it.Kind != "notice" {
			t.Fatalf("a %s item got through the hook", it.Kind)
		}
	}
	if got := b.h.count() - before; got != 20 {
		t.Fatalf("%d items arrived, want 20", got)
	}
	st := b.gate.Stats()
	if st.Discarded != 20 {
		t.Fatalf("Discarded = %d, want 20", st.Discarded)
	}
	mu.Lock()
	defer mu.Unlock()
	if asked["deliver"] != 10 || asked["ack"] != 10 || asked["cancel"] != 10 {
		t.Fatalf("hook asked %v", asked)
	}
	if a.gate.Stats().ConnsLost != 0 {
		t.Fatal("the connection broke")
	}
}

// TestNoticeAndAck_RoundTrip: notices and acks arrive whole and in order,
// from the sender's node id, with lists longer than one frame split.
func TestNoticeAndAck_RoundTrip(t *testing.T) {
	b := startNode(t, "b", "", nil, nil)
	a := startNode(t, "a", "", nil, nil)
	waitFor(t, 5*time.Second, "the welcome", func() bool {
		a.gate.Ack(b.addr, []vlr.DeliveryAck{{User: "w"}})
		time.Sleep(5 * time.Millisecond)
		return b.h.count() > 0
	})
	before := b.h.count()
	ns := make([]vlr.Notice, repairChunk+10)
	for i := range ns {
		ns[i] = vlr.Notice{User: "u", Device: "d", Epoch: uint64(i), Head: uint64(2 * i)}
	}
	acks := []vlr.DeliveryAck{{User: "u", Device: "d", Epoch: 3, Seq: 9}, {User: "v", Device: "e", Epoch: 4, Gone: true}}
	a.gate.Notice(b.addr, ns)
	a.gate.Ack(b.addr, acks)
	waitFor(t, 5*time.Second, "three frames", func() bool { return b.h.count() >= before+3 })
	got := b.h.received()[before:]
	if got[0].Kind != "notice" || got[1].Kind != "notice" || got[2].Kind != "ack" || got[0].From != "a" || got[2].From != "a" {
		t.Fatalf("got %+v", got)
	}
	if all := append(got[0].Notices, got[1].Notices...); !reflect.DeepEqual(all, ns) || len(got[0].Notices) != repairChunk {
		t.Fatalf("notices split %d+%d, or changed", len(got[0].Notices), len(got[1].Notices))
	}
	if !reflect.DeepEqual(got[2].Acks, acks) {
		t.Fatalf("acks %+v", got[2].Acks)
	}
}

// TestLevel_OlderAcceptorGetsNoNewTypes: an acceptor that sends no welcome
// (a node of gate level 1) is never sent a notice or an ack — it would
// close the connection on an unknown type — while the older types still
// reach it; the skipped items are counted as drops.
func TestLevel_OlderAcceptorGetsNoNewTypes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mux.New(ln, testSec(t, "old"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var types sync.Map // frame type → count
	var delivers atomic.Int64
	m.Handle(mux.KindGate, func(c net.Conn, _ uint16) {
		defer c.Close()
		d := newDecoder(4 << 20)
		for {
			for {
				f, ok, err := d.next()
				if err != nil {
					return
				}
				if !ok {
					break
				}
				n, _ := types.LoadOrStore(f.typ, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
				if f.typ == frameDeliver {
					delivers.Add(1)
				}
			}
			if _, err := d.fill(c); err != nil {
				return
			}
		}
	})
	a := startNode(t, "a", "", nil, nil)
	old := m.Addr().String()
	for i := 0; i < 20; i++ {
		a.gate.Notice(old, []vlr.Notice{{User: "u", Device: "d", Epoch: 1, Head: 1}})
		a.gate.Ack(old, []vlr.DeliveryAck{{User: "u", Device: "d", Epoch: 1, Seq: 1}})
		a.gate.Deliver(old, "u", nil, &hlr.Message{Seq: uint64(i)})
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "the delivers", func() bool { return delivers.Load() == 20 })
	for _, typ := range []byte{frameNotice, frameAck} {
		if _, ok := types.Load(typ); ok {
			t.Fatalf("a %s frame was sent to a level-1 acceptor", frameName(typ))
		}
	}
	st := a.gate.Stats()
	if st.Drops != 40 || st.ConnsLost != 0 {
		t.Fatalf("drops %d (want 40), conns lost %d", st.Drops, st.ConnsLost)
	}
}
