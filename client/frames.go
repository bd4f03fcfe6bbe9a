package client

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/roamhq/roam/wire"
)

// frameReader reads the server's frames for a connection's reader. Unlike
// wire.Reader it survives a frame above the limit: it skips the frame's
// body without buffering it and reports the frame's type and request id,
// so that the one request it answered fails (ErrFrameTooLarge) and the
// connection goes on. A server that honours Hello's max_frame never sends
// one; an older server, or a reply with no size bound of its own (a very
// long friend list), might.
type frameReader struct {
	br    *bufio.Reader
	limit uint32
	hdr   [wire.HeaderSize]byte
	buf   []byte
}

func newFrameReader(r io.Reader, maxFrame int) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, 16<<10), limit: uint32(maxFrame)}
}

// errSkipped is returned with the header of a frame whose body was
// skipped because it is larger than the limit.
type errSkipped struct {
	typ    wire.Type
	rid    uint32
	length uint32
	limit  uint32
}

func (e *errSkipped) Error() string {
	return fmt.Sprintf("a %s frame of %d bytes exceeds Config.MaxFrame (%d)", e.typ, e.length, e.limit)
}

// next reads the next frame; its Body is valid until the next call. A
// skipped frame gives an *errSkipped (the stream is at the next frame);
// any other error is final.
func (r *frameReader) next() (wire.Frame, error) {
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return wire.Frame{}, err // io.EOF between frames, io.ErrUnexpectedEOF inside one
	}
	n := binary.BigEndian.Uint32(r.hdr[:4])
	if n < wire.HeaderSize-4 {
		return wire.Frame{}, fmt.Errorf("%w: length %d is below 5", wire.ErrFrameTooShort, n)
	}
	t := wire.Type(r.hdr[4])
	rid := binary.BigEndian.Uint32(r.hdr[5:])
	body := int64(n) - (wire.HeaderSize - 4)
	if n > r.limit {
		if _, err := r.br.Discard(int(body)); err != nil {
			return wire.Frame{}, io.ErrUnexpectedEOF
		}
		return wire.Frame{}, &errSkipped{typ: t, rid: rid, length: n, limit: r.limit}
	}
	if int64(cap(r.buf)) < body {
		r.buf = make([]byte, body)
	}
	r.buf = r.buf[:body]
	if _, err := io.ReadFull(r.br, r.buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return wire.Frame{}, err
	}
	f := wire.Frame{Type: t, RID: rid}
	if body > 0 {
		f.Body = r.buf
	}
	if cap(r.buf) > 64<<10 && body <= 64<<10 {
		r.buf = nil // do not pin a large buffer after a large frame
	}
	return f, nil
}
