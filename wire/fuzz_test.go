package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"reflect"
	"testing"
)

// Run one at a time, briefly:
//
//	go test -run='^$' -fuzz='^FuzzDecoder$' -fuzztime=10s ./wire
//	go test -run='^$' -fuzz='^FuzzReader$'  -fuzztime=10s ./wire
//	go test -run='^$' -fuzz='^FuzzDecode$'  -fuzztime=10s ./wire
//
// Crashers found so far are kept under testdata/fuzz and run by go test.

// seedFrames returns valid frames of every type, frames carrying the
// bombs, and a stream of all of them.
func seedFrames(t testing.TB) [][]byte {
	r := rand.New(rand.NewSource(10))
	var seeds [][]byte
	for _, typ := range allTypes() {
		for _, body := range []any{NewBody(typ), filled(typ, r)} {
			f, err := AppendFrame(nil, typ, r.Uint32(), body)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, f, f[:len(f)-1], f[:HeaderSize-1])
		}
	}
	for _, b := range bombs() {
		seeds = append(seeds, AppendRaw(nil, TSend, 1, b))
	}
	_, all := stream(t, 11)
	seeds = append(seeds, all, []byte{0xff, 0xff, 0xff, 0xff}, []byte{0, 0, 0, 4, 1})
	return seeds
}

// decodeAll feeds pieces to a new Decoder and returns the frames and the
// error; rest is the number of bytes left in the Decoder.
func decodeAll(t testing.TB, limit int, pieces ...[]byte) (frames []Frame, rest int, err error) {
	d := NewDecoder(limit)
	for _, p := range pieces {
		d.Feed(p)
		if frames, err = collect(t, d, frames); err != nil {
			return frames, 0, err
		}
	}
	return frames, len(d.buf) - d.off, nil
}

// sameFailure reports whether two framing results failed the same way.
func sameFailure(a, b error) bool {
	for _, sentinel := range []error{ErrFrameTooLarge, ErrFrameTooShort, io.ErrUnexpectedEOF, io.EOF} {
		if errors.Is(a, sentinel) != errors.Is(b, sentinel) {
			return false
		}
	}
	return (a == nil) == (b == nil)
}

// FuzzDecoder: feeding an input in two pieces, cut anywhere, gives the
// same frames and the same error as feeding it whole; and a Reader agrees.
func FuzzDecoder(f *testing.F) {
	for i, s := range seedFrames(f) {
		f.Add(s, uint16(i*7), uint16(0))
		f.Add(s, uint16(len(s)/2), uint16(100))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut, limit uint16) {
		at := int(cut) % (len(data) + 1)
		whole, rest, errWhole := decodeAll(t, int(limit), data)
		split, _, errSplit := decodeAll(t, int(limit), data[:at], data[at:])
		if !sameFrames(whole, split) || !sameFailure(errWhole, errSplit) {
			t.Fatalf("cut at %d: whole %d frames, %v; split %d frames, %v", at, len(whole), errWhole, len(split), errSplit)
		}
		for _, fr := range whole {
			if len(fr.Body)+minLength > int(frameLimit(int(limit))) {
				t.Fatalf("frame of %d bytes passed a limit of %d", len(fr.Body)+minLength, frameLimit(int(limit)))
			}
		}

		// The Reader reaches the same frames and the matching end.
		wantErr := errWhole
		switch {
		case wantErr != nil:
		case rest > 0:
			wantErr = io.ErrUnexpectedEOF
		default:
			wantErr = io.EOF
		}
		got, err := readAll(newReaderSize(bytes.NewReader(data), int(limit), 16))
		if !sameFrames(whole, got) || !sameFailure(err, wantErr) {
			t.Fatalf("Reader: %d frames, %v; Decoder: %d frames, %v", len(got), err, len(whole), wantErr)
		}
	})
}

// chunky returns at most size bytes per read and fails every third read
// with errTimeout, to drive the Reader through short reads and resumes.
type chunky struct {
	data []byte
	size int
	n    int
}

func (c *chunky) Read(p []byte) (int, error) {
	c.n++
	if c.n%3 == 0 {
		return 0, errTimeout
	}
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.size, len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// FuzzReader: reading through any chunking, with errors from the
// connection along the way, gives what a Decoder gives for the whole input.
func FuzzReader(f *testing.F) {
	for i, s := range seedFrames(f) {
		f.Add(s, uint8(1+i%13), uint16(0), false)
		f.Add(s, uint8(200), uint16(300), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, limit uint16, small bool) {
		want, rest, wantErr := decodeAll(t, int(limit), data)
		switch {
		case wantErr != nil:
		case rest > 0:
			wantErr = io.ErrUnexpectedEOF
		default:
			wantErr = io.EOF
		}
		size := readBufSize
		if small {
			size = 16
		}
		rd := newReaderSize(&chunky{data: data, size: 1 + int(chunk)}, int(limit), size)
		var got []Frame
		var err error
		for tries := 0; tries < 4*len(data)+10; tries++ {
			var fr Frame
			fr, err = rd.ReadFrame()
			if err == errTimeout {
				continue
			}
			if err != nil {
				break
			}
			fr.Body = bytes.Clone(fr.Body)
			got = append(got, fr)
		}
		if !sameFrames(want, got) || !sameFailure(err, wantErr) {
			t.Fatalf("Reader: %d frames, %v; Decoder: %d frames, %v", len(got), err, len(want), wantErr)
		}
	})
}

// FuzzDecode: decoding any bytes into any body type never panics, refuses
// with ErrBadBody, and whatever it accepts re-encodes and decodes to the
// same value.
func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewSource(12))
	for _, typ := range allTypes() {
		for _, body := range []any{NewBody(typ), filled(typ, r)} {
			b, err := Encode(body)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(typ), b)
		}
		for _, b := range bombs() {
			f.Add(uint8(typ), b)
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, body []byte) {
		tp := TInvalid + 1 + Type(typ)%MaxType
		v := NewBody(tp)
		if v == nil {
			return // a gap in the enum
		}
		err := Decode(body, v)
		if err != nil {
			if !errors.Is(err, ErrBadBody) {
				t.Fatalf("%s: error %v does not wrap ErrBadBody", tp, err)
			}
			return
		}
		again, err := Encode(v)
		if err != nil {
			t.Fatalf("%s: re-encode %+v: %v", tp, v, err)
		}
		v2 := NewBody(tp)
		if err := Decode(again, v2); err != nil {
			t.Fatalf("%s: decoding the re-encoding % x: %v", tp, again, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("%s: %+v re-decodes as %+v", tp, v, v2)
		}
	})
}
