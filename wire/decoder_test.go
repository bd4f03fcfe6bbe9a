package wire

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"
)

// stream returns the frames of one filled body of every type, plus
// bodiless frames, and their concatenation.
func stream(t testing.TB, seed int64) ([]Frame, []byte) {
	r := rand.New(rand.NewSource(seed))
	var frames []Frame
	var buf []byte
	for _, typ := range allTypes() {
		rid := r.Uint32()
		start := len(buf)
		var err error
		buf, err = AppendFrame(buf, typ, rid, filled(typ, r))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, Frame{Type: typ, RID: rid, Body: buf[start+HeaderSize:]})
		buf = AppendRaw(buf, TPing, rid+1, nil)
		frames = append(frames, Frame{Type: TPing, RID: rid + 1})
	}
	return frames, buf
}

func TestDecoder_ByteByByte(t *testing.T) {
	want, data := stream(t, 3)
	d := NewDecoder(1 << 20)
	var got []Frame
	var err error
	for i := range data {
		d.Feed(data[i : i+1])
		if got, err = collect(t, d, got); err != nil {
			t.Fatalf("after byte %d: %v", i, err)
		}
	}
	if !sameFrames(got, want) {
		t.Fatalf("byte by byte: got %d frames, want %d (or contents differ)", len(got), len(want))
	}
}

// TestDecoder_SplitEveryOffset feeds a stream of many frames in two pieces,
// cut at every offset, and in three pieces at pseudo-random offsets.
func TestDecoder_SplitEveryOffset(t *testing.T) {
	want, data := stream(t, 4)
	for i := 0; i <= len(data); i++ {
		d := NewDecoder(1 << 20)
		d.Feed(data[:i])
		got, err := collect(t, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Feed(data[i:])
		if got, err = collect(t, d, got); err != nil {
			t.Fatal(err)
		}
		if !sameFrames(got, want) {
			t.Fatalf("split at %d: frames differ", i)
		}
	}
	r := rand.New(rand.NewSource(5))
	for n := 0; n < 200; n++ {
		i := r.Intn(len(data) + 1)
		j := i + r.Intn(len(data)-i+1)
		d := NewDecoder(1 << 20)
		var got []Frame
		for _, piece := range [][]byte{data[:i], data[i:j], data[j:]} {
			d.Feed(piece)
			var err error
			if got, err = collect(t, d, got); err != nil {
				t.Fatal(err)
			}
		}
		if !sameFrames(got, want) {
			t.Fatalf("split at %d and %d: frames differ", i, j)
		}
	}
}

// TestDecoder_BodyValidUntilNextCall checks that Next does not clobber the
// body it just returned, even when the buffer is reset behind it.
func TestDecoder_BodyValidUntilNextCall(t *testing.T) {
	frame, _ := AppendFrame(nil, TAck, 1, &Ack{Seq: 99})
	d := NewDecoder(0)
	for i := 0; i < 3; i++ {
		d.Feed(frame)
		f, ok, err := d.Next()
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		var a Ack
		if err := Decode(f.Body, &a); err != nil || a.Seq != 99 {
			t.Fatalf("round %d: %+v, %v", i, a, err)
		}
	}
}

func TestDecoder_NeedsMore(t *testing.T) {
	frame, _ := AppendFrame(nil, TAck, 1, &Ack{Seq: 1})
	d := NewDecoder(0)
	for i := 0; i < len(frame)-1; i++ {
		d.Feed(frame[i : i+1])
		if _, ok, err := d.Next(); ok || err != nil {
			t.Fatalf("after %d of %d bytes: ok=%v err=%v", i+1, len(frame), ok, err)
		}
	}
	d.Feed(frame[len(frame)-1:])
	if _, ok, err := d.Next(); !ok || err != nil {
		t.Fatalf("complete frame: ok=%v err=%v", ok, err)
	}
}

// TestDecoder_Oversized: a bad length prefix is refused on its 4 bytes,
// without waiting for or allocating the frame, and the error is sticky.
func TestDecoder_Oversized(t *testing.T) {
	const limit = 1000
	for _, prefix := range [][]byte{
		{0xff, 0xff, 0xff, 0xff},
		{0x00, 0x00, 0x03, 0xe9}, // limit+1
		{0x7f, 0x00, 0x00, 0x00},
	} {
		var err error
		grew := allocated(func() {
			d := NewDecoder(limit)
			d.Feed(prefix)
			_, _, err = d.Next()
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Errorf("prefix % x: err = %v, want ErrFrameTooLarge", prefix, err)
			}
			d.Feed([]byte{1, 2, 3})
			if _, ok, err2 := d.Next(); ok || err2 != err {
				t.Errorf("after the error: ok=%v err=%v, want the same error", ok, err2)
			}
		})
		if grew > 1<<20 {
			t.Errorf("prefix % x: heap grew by %d bytes", prefix, grew)
		}
		t.Logf("prefix % x: %v (heap +%d B)", prefix, err, grew)
	}

	// Exactly the limit is fine.
	d := NewDecoder(limit)
	d.Feed(AppendRaw(nil, TSend, 1, make([]byte, limit-minLength)))
	if _, ok, err := d.Next(); !ok || err != nil {
		t.Fatalf("frame of exactly the limit: ok=%v err=%v", ok, err)
	}
}

// TestDecoder_TricklingFrame: a frame of the limit size fed one byte at a
// time takes one buffer of the frame's size, not a doubling series.
func TestDecoder_TricklingFrame(t *testing.T) {
	const limit = 200000
	frame := AppendRaw(nil, TSend, 1, make([]byte, limit-minLength))
	d := NewDecoder(limit)
	grew := allocated(func() {
		for i := range frame {
			d.Feed(frame[i : i+1])
			if _, ok, err := d.Next(); err != nil || ok != (i == len(frame)-1) {
				t.Fatalf("byte %d: ok=%v err=%v", i, ok, err)
			}
		}
	})
	if max := uint64(limit + HeaderSize + 16<<10); grew > max {
		t.Fatalf("heap grew by %d bytes for a %d-byte frame", grew, len(frame))
	}
}

func TestDecoder_TooShort(t *testing.T) {
	for n := 0; n < minLength; n++ {
		d := NewDecoder(0)
		d.Feed([]byte{0, 0, 0, byte(n), 1, 0, 0, 0, 0})
		_, ok, err := d.Next()
		if ok || !errors.Is(err, ErrFrameTooShort) {
			t.Errorf("length %d: ok=%v err=%v, want ErrFrameTooShort", n, ok, err)
		}
	}
	// 5 is the smallest valid length: a frame without a body.
	d := NewDecoder(0)
	d.Feed([]byte{0, 0, 0, 5, 19, 0, 0, 0, 1})
	if f, ok, err := d.Next(); !ok || err != nil || f.Type != TPing || f.RID != 1 || f.Body != nil {
		t.Fatalf("length 5: %+v ok=%v err=%v", f, ok, err)
	}
}

func TestDecoder_ErrorQuotesInput(t *testing.T) {
	d := NewDecoder(0)
	d.Feed([]byte{0xde, 0xad, 0xbe, 0xef, 0x01})
	_, _, err := d.Next()
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("de ad be ef 01")) {
		t.Fatalf("error %q does not quote the input", err)
	}
}

// TestDecoder_SteadyStateNoAllocs: once its buffer has grown, feeding and
// decoding frames allocates nothing.
func TestDecoder_SteadyStateNoAllocs(t *testing.T) {
	_, data := stream(t, 6)
	d := NewDecoder(1 << 20)
	run := func() {
		d.Feed(data[:len(data)/2])
		for {
			if _, ok, _ := d.Next(); !ok {
				break
			}
		}
		d.Feed(data[len(data)/2:])
		for {
			if _, ok, _ := d.Next(); !ok {
				break
			}
		}
	}
	run()
	if allocs := testing.AllocsPerRun(20, run); allocs != 0 {
		t.Fatalf("%.1f allocations per stream", allocs)
	}
}
