package vlr

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// worstMessage is a message whose every field takes the most bytes for a
// body of n bytes: the longest names, the largest integers.
func worstMessage(seq uint64, n int) hlr.Message {
	return hlr.Message{
		Seq: seq, ID: math.MaxUint64,
		From: strings.Repeat("u", 32), FromDevice: strings.Repeat("d", 64),
		Body: bytes.Repeat([]byte{0xff}, n), SentMS: math.MaxInt64, ExpiresMS: math.MinInt64,
	}
}

// TestMessageSize_BoundsTheWireEncoding: hlr.MessageSize, which bounds
// sync pages, is an upper bound of a message's real size in a frame, for
// bodies around every msgpack length boundary.
func TestMessageSize_BoundsTheWireEncoding(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 255, 256, 1440, 65535, 65536, 70000} {
		m := worstMessage(math.MaxUint64, n)
		wm := toWireMessage(&m)
		push, err := wire.AppendFrame(nil, wire.TMessage, 0, &wm)
		if err != nil {
			t.Fatal(err)
		}
		if len(push)-wire.HeaderSize > hlr.MessageSize(&m) {
			t.Errorf("body %d: the message takes %d bytes, MessageSize says %d", n, len(push)-wire.HeaderSize, hlr.MessageSize(&m))
		}
		if n <= 1440 && len(push) > minAnnouncedFrame {
			t.Errorf("body %d: a push of %d bytes does not fit the smallest client frame %d", n, len(push), minAnnouncedFrame)
		}
	}
	// A whole page: the reply's own overhead is within syncReplyOverhead.
	var in hlr.Inbox
	sum := 0
	for i := 0; i < hlr.MaxInboxPage; i++ {
		m := worstMessage(math.MaxUint64-uint64(hlr.MaxInboxPage-i), 1440)
		in.Messages = append(in.Messages, m)
		sum += hlr.MessageSize(&m)
	}
	in.Head = math.MaxUint64
	page := pageFor(&in, 0, math.MaxInt)
	page.Next, page.More = math.MaxUint64, true
	f, err := wire.AppendFrame(nil, wire.TSyncReply, math.MaxUint32, page)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) > sum+syncReplyOverhead {
		t.Fatalf("a page of %d messages takes %d bytes, bound %d", len(page.Messages), len(f), sum+syncReplyOverhead)
	}
}

// TestPageFor_FitsTheClientFrame: whatever page the leader returned, the
// reply fits the connection's frame limit, says more when it was cut, and
// next continues right after the last message returned.
func TestPageFor_FitsTheClientFrame(t *testing.T) {
	var in hlr.Inbox
	for seq := uint64(11); seq <= 60; seq++ {
		in.Messages = append(in.Messages, worstMessage(seq, 1440))
	}
	in.Head = 60
	for _, outMax := range []int{minAnnouncedFrame, 8192, wire.DefaultMaxFrame, maxOutFrame} {
		after := uint64(10)
		for {
			var rest hlr.Inbox
			rest.Head = in.Head
			for _, m := range in.Messages {
				if m.Seq > after {
					rest.Messages = append(rest.Messages, m)
				}
			}
			page := pageFor(&rest, after, syncBudget(outMax))
			f, err := wire.AppendFrame(nil, wire.TSyncReply, 1, page)
			if err != nil {
				t.Fatal(err)
			}
			if len(f)-4 > outMax {
				t.Fatalf("outMax %d: a page of %d messages is a %d-byte frame", outMax, len(page.Messages), len(f)-4)
			}
			if len(page.Messages) == 0 {
				t.Fatalf("outMax %d: an empty page after %d", outMax, after)
			}
			if page.Messages[0].Seq != after+1 || page.Next != page.Messages[len(page.Messages)-1].Seq+1 {
				t.Fatalf("outMax %d after %d: page %d..%d next %d", outMax, after, page.Messages[0].Seq, page.Messages[len(page.Messages)-1].Seq, page.Next)
			}
			after = page.Next - 1
			if !page.More {
				break
			}
		}
		if after != 60 {
			t.Fatalf("outMax %d: the pages ended at %d, want 60", outMax, after)
		}
	}
}

func TestClientFrameLimit(t *testing.T) {
	cfg := DefaultConfig()
	for _, c := range []struct {
		announced uint32
		want      int
		ok        bool
	}{
		{0, cfg.MaxFrame, true},
		{1000, 0, false},
		{minAnnouncedFrame - 1, 0, false},
		{minAnnouncedFrame, minAnnouncedFrame, true},
		{65536, 65536, true},
		{math.MaxUint32, maxOutFrame, true},
	} {
		got, ok := clientFrameLimit(c.announced, &cfg)
		if got != c.want || ok != c.ok {
			t.Errorf("clientFrameLimit(%d) = %d, %v; want %d, %v", c.announced, got, ok, c.want, c.ok)
		}
	}
	big := cfg
	big.MaxBody = 10000
	if _, ok := clientFrameLimit(minAnnouncedFrame, &big); ok {
		t.Error("a 4096-byte client frame accepted with a max_body of 10000")
	}
}
