package wire

import (
	"bufio"
	"io"
)

// readBufSize is the size of a Reader's bufio buffer. Frames that fit in it
// (nearly all of them) are returned without copying; larger ones are read
// into the Reader's own frame buffer.
const readBufSize = 4096

// Reader reads frames from an io.Reader, with the same rules as Decoder.
//
// The length prefix is checked before anything is allocated for the frame,
// and a frame never takes more than maxFrame+HeaderSize bytes of memory.
// The Reader reuses its buffers, so a frame's Body is valid only until the
// next ReadFrame.
//
// An error from the underlying reader other than io.EOF (a read deadline,
// say) is returned as is and loses nothing: the next ReadFrame resumes the
// frame where it stopped. A framing error or io.ErrUnexpectedEOF is final:
// every later ReadFrame returns it again, and the Reader drops its frame
// buffer.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	br    *bufio.Reader
	limit uint32
	err   error  // sticky framing error
	buf   []byte // frame buffer for frames larger than br's buffer
	want  int    // length of the large frame being read into buf, or 0
	got   int    // bytes of it read so far
}

// NewReader returns a Reader on r that accepts length prefixes up to
// maxFrame (DefaultMaxFrame if maxFrame <= 0; at least 5, at most 2 GiB).
func NewReader(r io.Reader, maxFrame int) *Reader {
	return newReaderSize(r, maxFrame, readBufSize)
}

func newReaderSize(r io.Reader, maxFrame, size int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, size), limit: frameLimit(maxFrame)}
}

// Buffered returns the number of bytes read from the underlying reader and
// not yet returned in a frame.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// SetLimit changes the limit on the length prefix of the frames read from
// now on (as NewReader's maxFrame). A frame whose length was already
// checked is finished under the old limit. A server uses it to accept only
// small frames until a client has logged in.
func (r *Reader) SetLimit(maxFrame int) { r.limit = frameLimit(maxFrame) }

// Limit returns the limit on length prefixes in force.
func (r *Reader) Limit() int { return int(r.limit) }

// ReadFrame reads the next frame. It returns io.EOF at a clean end of
// stream between frames, io.ErrUnexpectedEOF when the stream ends inside a
// frame, and an error wrapping ErrFrameTooLarge or ErrFrameTooShort for a
// bad length prefix. The frame's Body is valid until the next call.
func (r *Reader) ReadFrame() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	if r.want == 0 {
		// Peek consumes nothing, so on any error the stream is where it
		// was and a later call starts the frame again.
		hdr, err := r.br.Peek(prefixSize)
		if err != nil {
			return Frame{}, r.readErr(err, len(hdr) > 0)
		}
		n, err := checkLength(hdr, r.limit)
		if err != nil {
			r.err = err
			r.buf = nil // nothing more is read: free the frame buffer
			return Frame{}, err
		}
		total := prefixSize + int(n)
		if total <= r.br.Size() {
			p, err := r.br.Peek(total)
			if err != nil {
				return Frame{}, r.readErr(err, true)
			}
			// Discard only advances within the buffer: p stays valid
			// until the next read.
			r.br.Discard(total)
			return parseFrame(p[prefixSize:]), nil
		}
		// Too large for the bufio buffer: read it into r.buf, keeping
		// count so that a read error can be resumed from.
		r.br.Discard(prefixSize)
		if cap(r.buf) < int(n) {
			r.buf = make([]byte, n)
		}
		r.buf = r.buf[:n]
		r.want, r.got = int(n), 0
	}
	for r.got < r.want {
		m, err := r.br.Read(r.buf[r.got:r.want])
		r.got += m
		if err != nil && r.got < r.want {
			return Frame{}, r.readErr(err, true)
		}
	}
	n := r.want
	r.want, r.got = 0, 0
	return parseFrame(r.buf[:n]), nil
}

// readErr turns a read error into ReadFrame's result. inFrame tells
// whether part of a frame has been read.
func (r *Reader) readErr(err error, inFrame bool) error {
	if err == io.EOF {
		if !inFrame {
			return io.EOF
		}
		err = io.ErrUnexpectedEOF
	}
	if err == io.ErrUnexpectedEOF {
		r.err = err
		r.buf = nil
	}
	return err
}
