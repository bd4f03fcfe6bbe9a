package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// readAll reads frames until an error, copying bodies.
func readAll(rd *Reader) ([]Frame, error) {
	var out []Frame
	for {
		f, err := rd.ReadFrame()
		if err != nil {
			return out, err
		}
		f.Body = bytes.Clone(f.Body)
		out = append(out, f)
	}
}

// TestReader_Stream reads a stream through every combination of short
// reads and bufio sizes (16 bytes forces the large-frame path).
func TestReader_Stream(t *testing.T) {
	want, data := stream(t, 7)
	wrap := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for name, w := range wrap {
		for _, size := range []int{16, 100, readBufSize} {
			rd := newReaderSize(w(bytes.NewReader(data)), 1<<20, size)
			got, err := readAll(rd)
			if err != io.EOF {
				t.Fatalf("%s/%d: err = %v, want io.EOF", name, size, err)
			}
			if !sameFrames(got, want) {
				t.Fatalf("%s/%d: frames differ", name, size)
			}
			if rd.Buffered() != 0 {
				t.Fatalf("%s/%d: Buffered = %d at EOF", name, size, rd.Buffered())
			}
		}
	}
}

func TestReader_EOF(t *testing.T) {
	frame, _ := AppendFrame(nil, TSend, 1, &Send{To: "bob", Body: make([]byte, 5000)})
	cases := []struct {
		name string
		data []byte
		want []error
	}{
		{"empty", nil, []error{io.EOF}},
		{"one frame", frame, []error{nil, io.EOF}},
		{"partial prefix", frame[:2], []error{io.ErrUnexpectedEOF, io.ErrUnexpectedEOF}},
		{"header only", frame[:HeaderSize], []error{io.ErrUnexpectedEOF}},
		{"small frame cut", frame[:len(frame)-1][:20], []error{io.ErrUnexpectedEOF}},
		{"large frame cut", frame[:len(frame)-1], []error{io.ErrUnexpectedEOF, io.ErrUnexpectedEOF}},
		{"frame then cut", append(append([]byte{}, frame...), frame[:7]...), []error{nil, io.ErrUnexpectedEOF}},
	}
	for _, c := range cases {
		rd := NewReader(bytes.NewReader(c.data), 0)
		for i, want := range c.want {
			_, err := rd.ReadFrame()
			if err != want {
				t.Errorf("%s: read %d: err = %v, want %v", c.name, i, err, want)
			}
		}
	}
}

// TestReader_Oversized: the prefix is refused without allocating the
// frame, however much data follows.
func TestReader_Oversized(t *testing.T) {
	const limit = 1000
	for _, prefix := range [][]byte{
		{0xff, 0xff, 0xff, 0xff},
		{0x00, 0x00, 0x03, 0xe9},
	} {
		src := io.MultiReader(bytes.NewReader(prefix), zeros{})
		grew := allocated(func() {
			rd := NewReader(src, limit)
			_, err := rd.ReadFrame()
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Errorf("prefix % x: err = %v, want ErrFrameTooLarge", prefix, err)
			}
			if _, err2 := rd.ReadFrame(); err2 != err {
				t.Errorf("second read: %v, want the same error", err2)
			}
		})
		if grew > 1<<20 {
			t.Errorf("prefix % x: heap grew by %d bytes", prefix, grew)
		}
	}
	for n := 0; n < minLength; n++ {
		rd := NewReader(bytes.NewReader([]byte{0, 0, 0, byte(n), 0, 0, 0, 0, 0}), 0)
		if _, err := rd.ReadFrame(); !errors.Is(err, ErrFrameTooShort) {
			t.Errorf("length %d: err = %v, want ErrFrameTooShort", n, err)
		}
	}
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestReader_BoundedBuffer: reading frames of the limit size allocates at
// most one frame buffer, which is then reused.
func TestReader_BoundedBuffer(t *testing.T) {
	const limit = 50000
	frame := AppendRaw(nil, TSend, 1, make([]byte, limit-minLength))
	data := bytes.Repeat(frame, 20)
	var rd *Reader
	grew := allocated(func() {
		rd = NewReader(bytes.NewReader(data), limit)
		if _, err := rd.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	})
	if c := cap(rd.buf); c > limit+HeaderSize {
		t.Fatalf("frame buffer of %d bytes for a limit of %d", c, limit)
	}
	// The runtime rounds large allocations up to whole pages (8 KiB).
	if max := uint64(limit + HeaderSize + readBufSize + 16<<10); grew > max {
		t.Fatalf("first frame: heap grew by %d bytes, want at most %d", grew, max)
	}
	if allocs := testing.AllocsPerRun(10, func() {
		if _, err := rd.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("%.1f allocations per frame after the first", allocs)
	}
}

// flaky returns errTimeout every other read, like a connection with a read
// deadline that fires mid-frame.
type flaky struct {
	r    io.Reader
	fail bool
}

var errTimeout = errors.New("i/o timeout")

func (f *flaky) Read(p []byte) (int, error) {
	f.fail = !f.fail
	if f.fail {
		return 0, errTimeout
	}
	if len(p) > 3 {
		p = p[:3]
	}
	return f.r.Read(p)
}

// TestReader_ResumesAfterTimeout: an error from the connection loses
// nothing; the next ReadFrame resumes the frame.
func TestReader_ResumesAfterTimeout(t *testing.T) {
	want, data := stream(t, 8)
	for _, size := range []int{16, readBufSize} {
		rd := newReaderSize(&flaky{r: bytes.NewReader(data)}, 1<<20, size)
		var got []Frame
		timeouts := 0
		for {
			f, err := rd.ReadFrame()
			if err == errTimeout {
				timeouts++
				continue
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			f.Body = bytes.Clone(f.Body)
			got = append(got, f)
		}
		if timeouts == 0 {
			t.Fatal("the test reader never timed out")
		}
		if !sameFrames(got, want) {
			t.Fatalf("size %d: frames differ after %d timeouts", size, timeouts)
		}
	}
}

func TestReader_Buffered(t *testing.T) {
	a := AppendRaw(nil, TPing, 1, nil)
	data := append(append([]byte{}, a...), a...)
	rd := NewReader(bytes.NewReader(data), 0)
	if _, err := rd.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if rd.Buffered() != len(a) {
		t.Fatalf("Buffered = %d, want %d", rd.Buffered(), len(a))
	}
}

// TestReader_SetLimit: a server reads small frames until a client logs in,
// then raises the limit; the frames after the change are checked against
// the new limit, across short reads and the large-frame path alike.
func TestReader_SetLimit(t *testing.T) {
	small := AppendRaw(nil, TPing, 1, make([]byte, 100))
	big := AppendRaw(nil, TSend, 2, make([]byte, 3000))
	for _, size := range []int{16, readBufSize} {
		data := append(append(append([]byte{}, small...), big...), big...)
		rd := newReaderSize(iotest.HalfReader(bytes.NewReader(data)), 200, size)
		if rd.Limit() != 200 {
			t.Fatalf("Limit() = %d, want 200", rd.Limit())
		}
		if f, err := rd.ReadFrame(); err != nil || f.RID != 1 {
			t.Fatalf("size %d: small frame: %+v, %v", size, f, err)
		}
		rd.SetLimit(4000)
		for i := 0; i < 2; i++ {
			if f, err := rd.ReadFrame(); err != nil || f.RID != 2 || len(f.Body) != 3000 {
				t.Fatalf("size %d: big frame %d after SetLimit: rid %d, %d bytes, %v", size, i, f.RID, len(f.Body), err)
			}
		}
		// Lowered again: the next frame is refused on its prefix.
		rd = newReaderSize(bytes.NewReader(append(append([]byte{}, small...), big...)), 4000, size)
		rd.SetLimit(200)
		if _, err := rd.ReadFrame(); err != nil {
			t.Fatalf("size %d: small frame under the lowered limit: %v", size, err)
		}
		if _, err := rd.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("size %d: big frame under the lowered limit: %v, want ErrFrameTooLarge", size, err)
		}
	}
}

// TestReader_FramingErrorDropsBuffer: once a framing error is final, the
// Reader keeps no large-frame buffer (a refused connection must not pin
// memory until it is collected).
func TestReader_FramingErrorDropsBuffer(t *testing.T) {
	big := AppendRaw(nil, TSend, 1, make([]byte, 30000))
	bad := []byte{0xff, 0xff, 0xff, 0xff}
	rd := NewReader(bytes.NewReader(append(append([]byte{}, big...), bad...)), 1<<20)
	if _, err := rd.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if cap(rd.buf) < 30000 {
		t.Fatalf("the large frame did not use the frame buffer (cap %d)", cap(rd.buf))
	}
	if _, err := rd.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if rd.buf != nil {
		t.Fatalf("frame buffer of %d bytes kept after a framing error", cap(rd.buf))
	}
}
