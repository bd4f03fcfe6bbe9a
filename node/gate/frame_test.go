package gate

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/vlr"
)

// sampleStream is one frame of every type.
func sampleStream(t testing.TB) []byte {
	t.Helper()
	var b []byte
	add := func(typ byte, id uint32, body any) {
		var err error
		if b, err = appendFrame(b, typ, id, body, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	name := "Ann"
	add(frameHello, 0, &helloBody{Node: "n1"})
	add(frameExec, 1, &execBody{Deadline: Deadline{TTL: 500}, PID: 3, Cmd: hlr.Cmd{Op: hlr.OpSend, User: "ann", Body: []byte("hello"), Name: &name}})
	add(frameQuery, 2, &queryBody{PID: 4, Query: hlr.Query{Kind: hlr.QueryInbox, User: "ann", Limit: 10}})
	add(frameReply, 1, &replyBody{Result: &hlr.Result{MsgID: 9, Seq: 1}})
	add(frameReply, 2, &replyBody{Code: codeNotLeader, LeaderID: "n2", LeaderAddr: "h:1"})
	add(frameDeliver, 0, &deliverBody{User: "ann", Locs: []hlr.Location{{Device: "d", Node: "n", Epoch: 1}}, Msg: &hlr.Message{Seq: 1}})
	add(frameCancel, 0, &cancelBody{User: "ann", Loc: hlr.Location{Device: "d"}, Reason: "session_replaced"})
	add(frameNotify, 0, &notifyBody{User: "ann", Event: "request", Peer: "bob"})
	add(framePresence, 0, &presenceBody{Ups: []vlr.PresenceUpdate{{User: "ann", Status: "online"}}, Full: true})
	add(frameNotice, 0, &noticeBody{Notices: []vlr.Notice{{User: "ann", Device: "d", Epoch: 2, Head: 7}}})
	add(frameAck, 0, &ackBody{Acks: []vlr.DeliveryAck{{User: "ann", Device: "d", Epoch: 2, Seq: 7}, {User: "bo", Gone: true}}})
	add(frameReply, 0, &replyBody{Level: gateLevel, Kinds: []byte{frameExec, frameQuery, frameDeliver, frameCancel, frameNotify, framePresence, frameNotice, frameAck, 11}})
	add(frameReply, 3, &replyBody{Answer: &hlr.Answer{Cursor: 5}})
	return b
}

// chunks is a reader returning one chunk per Read, then io.EOF.
type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	for len(*c) > 0 && len((*c)[0]) == 0 {
		*c = (*c)[1:]
	}
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	(*c)[0] = (*c)[0][n:]
	return n, nil
}

type decoded struct {
	typ  byte
	id   uint32
	body []byte
}

// decodeAll runs a decoder over r until it fails or r ends, returning the
// frames and the decoder's error (nil at a clean end).
func decodeAll(r io.Reader, maxFrame int) ([]decoded, error) {
	d := newDecoder(maxFrame)
	var out []decoded
	for {
		for {
			f, ok, err := d.next()
			if err != nil {
				return out, err
			}
			if !ok {
				break
			}
			out = append(out, decoded{f.typ, f.id, bytes.Clone(f.body)})
		}
		if _, err := d.fill(r); err != nil {
			if err == io.EOF {
				if d.buffered() > 0 {
					return out, io.ErrUnexpectedEOF
				}
				return out, nil
			}
			return out, err
		}
	}
}

// decodeAny decodes a body by its frame type, as a receiver would.
func decodeAny(typ byte, body []byte) (any, error) {
	var v any
	switch typ {
	case frameHello:
		v = &helloBody{}
	case frameExec:
		v = &execBody{}
	case frameQuery:
		v = &queryBody{}
	case frameReply:
		v = &replyIn{}
	case frameDeliver:
		v = &deliverBody{}
	case frameCancel:
		v = &cancelBody{}
	case frameNotify:
		v = &notifyBody{}
	case framePresence:
		v = &presenceBody{}
	case frameNotice:
		v = &noticeBody{}
	case frameAck:
		v = &ackBody{}
	default:
		return nil, ErrProtocol
	}
	return v, decodeBody(body, v)
}

func TestDecoder_SplitAtEveryOffset(t *testing.T) {
	stream := sampleStream(t)
	want, err := decodeAll(&chunks{bytes.Clone(stream)}, 1<<20)
	if err != nil || len(want) != 13 {
		t.Fatalf("%d frames, %v", len(want), err)
	}
	for _, f := range want {
		if _, err := decodeAny(f.typ, f.body); err != nil {
			t.Fatalf("%s: %v", frameName(f.typ), err)
		}
	}
	for i := range stream {
		got, err := decodeAll(&chunks{bytes.Clone(stream[:i]), bytes.Clone(stream[i:])}, 1<<20)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("split at %d: %d frames, %v", i, len(got), err)
		}
	}
	var bytewise chunks
	for _, c := range stream {
		bytewise = append(bytewise, []byte{c})
	}
	if got, err := decodeAll(&bytewise, 1<<20); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("byte by byte: %d frames, %v", len(got), err)
	}
}

func TestDecoder_LengthCheckedBeforeAllocating(t *testing.T) {
	d := newDecoder(minFrameCap)
	r := &chunks{{0x7f, 0xff, 0xff, 0xff, frameDeliver}}
	if _, err := d.fill(r); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.next(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v, want ErrProtocol", err)
	}
	if len(d.buf) > readBufSize {
		t.Fatalf("allocated %d bytes for a rejected frame", len(d.buf))
	}
	// fill refuses too, rather than growing.
	if _, err := d.fill(r); !errors.Is(err, ErrProtocol) {
		t.Fatalf("fill: got %v", err)
	}
	for _, n := range []uint32{0, 1, 4, minFrameCap + 1} {
		d := newDecoder(minFrameCap)
		d.fill(&chunks{{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), 1, 0, 0, 0, 0}})
		if _, _, err := d.next(); !errors.Is(err, ErrProtocol) {
			t.Errorf("length %d: got %v", n, err)
		}
	}
}

func TestDecoder_LargeFrameGetsItsOwnBuffer(t *testing.T) {
	big := &deliverBody{User: "u", Msg: &hlr.Message{Body: make([]byte, 3*readBufSize)}}
	stream, err := appendFrame(nil, frameDeliver, 0, big, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	stream, _ = appendFrame(stream, frameCancel, 0, &cancelBody{User: "v"}, 1<<20)
	d := newDecoder(1 << 20)
	r := &chunks{stream}
	var got []byte
	for len(got) < 2 {
		f, ok, err := d.next()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			got = append(got, f.typ)
			continue
		}
		if _, err := d.fill(r); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, []byte{frameDeliver, frameCancel}) {
		t.Fatalf("frames %v", got)
	}
	d.fill(&chunks{}) // the large buffer is released once drained
	if len(d.buf) > readBufSize {
		t.Fatalf("kept a %d-byte buffer", len(d.buf))
	}
}

func TestDecodeBody_Bombs(t *testing.T) {
	for name, body := range map[string][]byte{
		"array32":      {0xdd, 0xff, 0xff, 0xff, 0xff},
		"map32":        {0xdf, 0xff, 0xff, 0xff, 0xff},
		"array16":      {0xdc, 0xff, 0xff},
		"str32":        {0xdb, 0xff, 0xff, 0xff, 0xff},
		"bin32":        {0xc6, 0xff, 0xff, 0xff, 0xff},
		"ext32":        {0xc9, 0xff, 0xff, 0xff, 0xff, 1},
		"field bomb":   {0x81, 0xa1, 'l', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"deep":         bytes.Repeat([]byte{0x91}, 1000),
		"trailing":     {0x80, 0x80},
		"empty":        {},
		"invalid code": {0xc1},
		"truncated":    {0xcd, 0x01},
	} {
		for _, typ := range []byte{frameExec, frameReply, frameDeliver, framePresence} {
			if _, err := decodeAny(typ, body); !errors.Is(err, ErrProtocol) {
				t.Errorf("%s as %s: got %v, want ErrProtocol", name, frameName(typ), err)
			}
		}
	}
}

func TestDecodeBody_IgnoresUnknownFields(t *testing.T) {
	// A newer sender may add fields; an older receiver skips them.
	body := []byte{0x82, 0xa1, 'n', 0xa2, 'n', '1', 0xa3, 'n', 'e', 'w', 0x2a}
	var h helloBody
	if err := decodeBody(body, &h); err != nil || h.Node != "n1" {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestAppendFrame_TooLarge(t *testing.T) {
	_, err := appendFrame(nil, frameDeliver, 0, &deliverBody{Msg: &hlr.Message{Body: make([]byte, minFrameCap)}}, minFrameCap)
	if !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("got %v", err)
	}
}
