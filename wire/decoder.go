package wire

// Decoder is a push parser for a stream of frames: feed it bytes as they
// arrive, in pieces of any size, and take complete frames out with Next.
// It keeps its state across short reads, so a frame split over any number
// of Feed calls decodes exactly as if it had arrived whole.
//
// The length prefix is checked against the limit as soon as its 4 bytes
// are in, before the rest of the frame is waited for or any room is made
// for it. After an error the Decoder stays failed: Next returns the same
// error and Feed discards its input.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	buf   []byte // fed bytes; buf[off:] are not consumed yet
	off   int
	limit uint32
	err   error
}

// NewDecoder returns a Decoder that accepts length prefixes up to
// maxFrame (DefaultMaxFrame if maxFrame <= 0; at least 5, at most 2 GiB).
func NewDecoder(maxFrame int) *Decoder {
	return &Decoder{limit: frameLimit(maxFrame)}
}

// Feed appends bytes received from the peer. It copies p. Bodies of frames
// returned earlier become invalid.
func (d *Decoder) Feed(p []byte) {
	if d.err != nil || len(p) == 0 {
		return
	}
	if d.off > 0 {
		// Frames already returned are consumed: their bodies may be
		// overwritten, so slide the unconsumed tail to the front.
		n := copy(d.buf, d.buf[d.off:])
		d.buf = d.buf[:n]
		d.off = 0
	}
	d.buf = append(d.buf, p...)
}

// Next returns the next complete frame. ok is false with a nil error when
// more bytes are needed. err wraps ErrFrameTooLarge or ErrFrameTooShort.
// The frame's Body is valid until the next call on the Decoder.
func (d *Decoder) Next() (f Frame, ok bool, err error) {
	if d.err != nil {
		return Frame{}, false, d.err
	}
	p := d.buf[d.off:]
	if len(p) < prefixSize {
		return Frame{}, false, nil
	}
	n, err := checkLength(p, d.limit)
	if err != nil {
		d.err = err
		d.buf, d.off = nil, 0
		return Frame{}, false, err
	}
	end := prefixSize + int(n)
	if len(p) < end {
		if cap(d.buf)-d.off < end {
			// The length is valid: make room for exactly this frame now,
			// rather than doubling the buffer while it trickles in.
			b := d.buf[:0]
			if cap(b) < end {
				b = make([]byte, 0, end)
			}
			d.buf, d.off = append(b, p...), 0 // copy handles the overlap
		}
		return Frame{}, false, nil
	}
	f = parseFrame(p[prefixSize:end])
	d.off += end
	if d.off == len(d.buf) {
		// Everything is consumed: the next Feed starts at the front without
		// copying. f.Body stays intact until then.
		d.buf, d.off = d.buf[:0], 0
	}
	return f, true, nil
}
