package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/rand"
	"reflect"
	"testing"
)

// TestRoundTrip_EveryType encodes a zero and a filled body of every type,
// reads the frame back through a Decoder and a Reader, and decodes it.
func TestRoundTrip_EveryType(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, typ := range allTypes() {
		if NewBody(typ) == nil {
			t.Fatalf("NewBody(%s) = nil for a known type", typ)
		}
		for _, body := range []any{NewBody(typ), filled(typ, r)} {
			rid := r.Uint32()
			frame, err := AppendFrame([]byte("junk"), typ, rid, body)
			if err != nil {
				t.Fatalf("%s: AppendFrame: %v", typ, err)
			}
			if !bytes.HasPrefix(frame, []byte("junk")) {
				t.Fatalf("%s: AppendFrame overwrote dst", typ)
			}
			frame = frame[4:]
			if n := binary.BigEndian.Uint32(frame); int(n) != len(frame)-4 {
				t.Fatalf("%s: length prefix %d, frame has %d bytes after it", typ, n, len(frame)-4)
			}

			d := NewDecoder(1 << 20)
			d.Feed(frame)
			got, ok, err := d.Next()
			if err != nil || !ok {
				t.Fatalf("%s: Decoder.Next = %v, %v", typ, ok, err)
			}
			checkFrame(t, got, typ, rid, body)

			rd := NewReader(bytes.NewReader(frame), 1<<20)
			got, err = rd.ReadFrame()
			if err != nil {
				t.Fatalf("%s: ReadFrame: %v", typ, err)
			}
			checkFrame(t, got, typ, rid, body)
			if _, err := rd.ReadFrame(); err == nil {
				t.Fatalf("%s: second ReadFrame: want io.EOF", typ)
			}
		}
	}
}

func checkFrame(t *testing.T, f Frame, typ Type, rid uint32, want any) {
	t.Helper()
	if f.Type != typ || f.RID != rid {
		t.Fatalf("frame %s/%d, want %s/%d", f.Type, f.RID, typ, rid)
	}
	got := NewBody(typ)
	if err := Decode(f.Body, got); err != nil {
		t.Fatalf("%s: Decode: %v", typ, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: decoded\n%+v\nwant\n%+v", typ, got, want)
	}
}

// TestAppendFrame_Golden pins the exact bytes of two frames, so that a
// change of encoding (integer widths, field order) cannot go unnoticed.
func TestAppendFrame_Golden(t *testing.T) {
	cases := []struct {
		typ  Type
		rid  uint32
		body any
		want string
	}{
		{TPing, 7, nil, "00000005 13 00000007"},
		{TPing, 7, &Empty{}, "00000006 13 00000007 80"},
		{THello, 1, &Hello{Proto: Magic, Version: Version},
			"0000001a 01 00000001 82 a5 70726f746f a4 726f616d a7 76657273696f6e 01"},
		{THello, 1, &Hello{Proto: Magic, Version: Version, MaxFrame: 65536},
			"00000029 01 00000001 83 a5 70726f746f a4 726f616d a7 76657273696f6e 01 a9 6d61785f6672616d65 ce00010000"},
		{TSend, 0x01020304, &Send{To: "bob", CMID: 300, Body: []byte("hi"), TTLMS: 70000},
			"0000002a 20 01020304 84 a2 746f a3 626f62 a4 636d6964 cd012c a4 626f6479 c4 02 6869 a6 74746c5f6d73 ce00011170"},
	}
	for _, c := range cases {
		got, err := AppendFrame(nil, c.typ, c.rid, c.body)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := hex.DecodeString(string(bytes.ReplaceAll([]byte(c.want), []byte(" "), nil)))
		if !bytes.Equal(got, want) {
			t.Errorf("%s frame\n got % x\nwant % x", c.typ, got, want)
		}
	}
}

func TestAppendFrame_NilBodies(t *testing.T) {
	for _, body := range []any{nil, (*Send)(nil), (*Hello)(nil), (*Error)(nil)} {
		got, err := AppendFrame(nil, TOK, 9, body)
		if err != nil {
			t.Fatal(err)
		}
		if want := AppendRaw(nil, TOK, 9, nil); !bytes.Equal(got, want) {
			t.Errorf("AppendFrame(%T nil) = % x, want % x", body, got, want)
		}
	}
}

func TestAppendFrame_EncodeErrorLeavesDst(t *testing.T) {
	dst := []byte("keep")
	out, err := AppendFrame(dst, TSend, 1, &struct{ C chan int }{make(chan int)})
	if err == nil {
		t.Fatal("encoding a channel: want an error")
	}
	if string(out) != "keep" {
		t.Fatalf("dst = %q after an error, want %q", out, "keep")
	}
}

func TestAppendRaw(t *testing.T) {
	body, err := Encode(&Ack{Seq: 5})
	if err != nil {
		t.Fatal(err)
	}
	raw := AppendRaw(nil, TAck, 3, body)
	enc, _ := AppendFrame(nil, TAck, 3, &Ack{Seq: 5})
	if !bytes.Equal(raw, enc) {
		t.Fatalf("AppendRaw % x, AppendFrame % x", raw, enc)
	}
	if b, err := Encode(nil); err != nil || b != nil {
		t.Fatalf("Encode(nil) = %v, %v", b, err)
	}
}

// TestFastPathMatchesMsgpack checks that the hand-written encoders produce
// exactly what msgpack/v5 produces, field by field present or absent.
func TestFastPathMatchesMsgpack(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	hot := []Type{TSend, TSendAck, TError, TSync}
	for i := 0; i < 2000; i++ {
		typ := hot[i%len(hot)]
		v := filled(typ, r)
		rv := reflect.ValueOf(v).Elem()
		for j := 0; j < rv.NumField(); j++ {
			if r.Intn(3) == 0 { // zero some fields, to exercise omitempty and nil
				rv.Field(j).SetZero()
			}
		}
		fast, ok := appendFast(nil, v)
		if !ok {
			t.Fatalf("%s has no fast path", typ)
		}
		slow, err := appendReflect(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, slow) {
			t.Fatalf("%s %+v:\nfast % x\nmsgpack % x", typ, v, fast, slow)
		}
	}
}

// TestAppendFrame_NoAllocs is the 0-allocations promise of the send path.
func TestAppendFrame_NoAllocs(t *testing.T) {
	bodies := map[Type]any{
		TSend:     &Send{To: "bob", CMID: 42, Body: make([]byte, 200), TTLMS: 1000},
		TSendAck:  &SendAck{ID: 1 << 40, Seq: 9, Dup: true},
		TMessage:  &Message{Seq: 1, ID: 2, From: "alice", FromDevice: "phone", Body: make([]byte, 200), SentMS: 1e12, ExpiresMS: 2e12},
		TAck:      &Ack{Seq: 77},
		TPing:     &Empty{},
		TPresence: &Presence{User: "alice", Status: "online"},
		TError:    &Error{Code: CodeRateLimited, Message: "slow down", RetryAfterMS: 500},
	}
	buf := make([]byte, 0, 4096)
	for typ, body := range bodies {
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			if buf, err = AppendFrame(buf[:0], typ, 1, body); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("AppendFrame(%s) makes %.1f allocations per frame, want 0", typ, allocs)
		}
	}
}

func TestCodeOf(t *testing.T) {
	d := NewDecoder(100)
	d.Feed([]byte{0, 0, 1, 0})
	_, _, tooLarge := d.Next()
	d = NewDecoder(100)
	d.Feed([]byte{0, 0, 0, 4})
	_, _, tooShort := d.Next()
	badBody := Decode([]byte{0xc1}, new(Empty))
	cases := []struct {
		err  error
		want Code
	}{
		{nil, CodeOK},
		{tooLarge, CodeFrameTooLarge},
		{tooShort, CodeBadFrame},
		{badBody, CodeBadBody},
		{errors.New("network down"), CodeOK},
	}
	for _, c := range cases {
		if got := CodeOf(c.err); got != c.want {
			t.Errorf("CodeOf(%v) = %s, want %s", c.err, got, c.want)
		}
		if c.want != CodeOK && !c.want.Fatal() {
			t.Errorf("%s should be fatal", c.want)
		}
	}
}

func TestFrameLimit(t *testing.T) {
	cases := []struct {
		in   int
		want uint32
	}{
		{-1, DefaultMaxFrame}, {0, DefaultMaxFrame}, {1, minLength}, {5, 5},
		{1000, 1000}, {math.MaxInt32, maxLimit}, {math.MaxInt, maxLimit},
	}
	for _, c := range cases {
		if got := frameLimit(c.in); got != c.want {
			t.Errorf("frameLimit(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
