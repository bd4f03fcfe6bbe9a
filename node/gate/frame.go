package gate

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/wire"
)

// A frame on the wire:
//
//	length uint32 BE | type byte | id uint32 BE | msgpack body
//
// length counts the bytes after itself (type, id and body), so it is at
// least 5 and at most the configured MaxFrameBytes.
const (
	lenSize     = 4
	headerSize  = lenSize + 1 + 4 // length, type, id
	minFrameLen = 1 + 4           // type and id, empty body
	// maxFrameLimit is the largest MaxFrameBytes accepted.
	maxFrameLimit = 64 << 20
	// readBufSize is the read buffer of a connection; frames larger than
	// it get a buffer of their own size, returned after use.
	readBufSize = 64 << 10
)

// frame is one decoded frame. body aliases the decoder's buffer and is
// valid until the decoder reads again.
type frame struct {
	typ  byte
	id   uint32
	body []byte
}

// appendWriter is the io.Writer msgpack encodes into.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

func (a *appendWriter) WriteByte(c byte) error {
	a.b = append(a.b, c)
	return nil
}

func (a *appendWriter) WriteString(s string) (int, error) {
	a.b = append(a.b, s...)
	return len(s), nil
}

type encoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	e.enc.UseCompactInts(true)
	return e
}}

// errFrameTooLarge is wrapped with the sizes by appendFrame.
var errFrameTooLarge = fmt.Errorf("gate: frame too large")

// appendFrame appends a frame of type typ and id with body encoded to dst.
// On error dst is returned unchanged.
func appendFrame(dst []byte, typ byte, id uint32, body any, maxFrame int) ([]byte, error) {
	start := len(dst)
	e := encoders.Get().(*encoder)
	e.w.b = binary.BigEndian.AppendUint32(append(dst, 0, 0, 0, 0, typ), id)
	err := e.enc.Encode(body)
	out := e.w.b
	e.w.b = nil
	encoders.Put(e)
	if err != nil {
		return dst[:start], fmt.Errorf("gate: encode a frame of type %d: %w", typ, err)
	}
	n := len(out) - start - lenSize
	if n > maxFrame {
		return dst[:start], fmt.Errorf("%w: type %d, %d bytes, limit %d", errFrameTooLarge, typ, n, maxFrame)
	}
	binary.BigEndian.PutUint32(out[start:], uint32(n))
	return out, nil
}

type decoderState struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	d := &decoderState{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

// decodeBody decodes a frame body into v after checking, without
// allocating, that it is exactly one msgpack value whose declared lengths
// all fit in the body (see wire.CheckBody). Errors wrap ErrProtocol.
func decodeBody(body []byte, v any) error {
	if err := wire.CheckBody(body); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	d := decoders.Get().(*decoderState)
	d.r.Reset(body)
	d.dec.Reset(&d.r)
	err := d.dec.Decode(v)
	d.r.Reset(nil)
	d.dec.Reset(&d.r)
	decoders.Put(d)
	if err != nil {
		return fmt.Errorf("%w: bad body: %v [%s]", ErrProtocol, err, snippet(body))
	}
	return nil
}

// snippet quotes the start of b in hex for error messages.
func snippet(b []byte) string {
	const n = 16
	if len(b) > n {
		return hex.EncodeToString(b[:n]) + "…"
	}
	return hex.EncodeToString(b)
}

// decoder splits a byte stream into frames. It keeps partial frames across
// reads, checks each declared length against the cap before allocating
// for it, and reuses its buffer.
type decoder struct {
	max  int
	buf  []byte
	r, w int // buf[r:w] is read but not yet decoded
}

func newDecoder(maxFrame int) *decoder {
	return &decoder{max: maxFrame}
}

// next returns the next complete frame in the buffer; ok is false if more
// bytes are needed. The frame's body is valid until the next fill.
func (d *decoder) next() (f frame, ok bool, err error) {
	avail := d.buf[d.r:d.w]
	if len(avail) < lenSize {
		return frame{}, false, nil
	}
	n, err := d.frameLen(avail)
	if err != nil {
		return frame{}, false, err
	}
	if len(avail) < lenSize+n {
		return frame{}, false, nil
	}
	f = frame{
		typ:  avail[lenSize],
		id:   binary.BigEndian.Uint32(avail[lenSize+1:]),
		body: avail[headerSize : lenSize+n : lenSize+n],
	}
	d.r += lenSize + n
	return f, true, nil
}

// frameLen reads and checks the length prefix at the start of b.
func (d *decoder) frameLen(b []byte) (int, error) {
	n := binary.BigEndian.Uint32(b)
	if n < minFrameLen || uint64(n) > uint64(d.max) {
		return 0, fmt.Errorf("%w: frame length %d outside %d..%d [%s]", ErrProtocol, n, minFrameLen, d.max, snippet(b))
	}
	return int(n), nil
}

// fill reads once from r into the buffer, making room first: it drops what
// has been decoded and, if the frame in progress is larger than the buffer,
// grows the buffer to exactly that frame (its length already checked).
func (d *decoder) fill(r io.Reader) (int, error) {
	need := readBufSize
	if d.w-d.r >= lenSize {
		n, err := d.frameLen(d.buf[d.r:d.w])
		if err != nil {
			return 0, err
		}
		need = max(need, lenSize+n)
	}
	switch {
	case d.r == d.w && len(d.buf) > readBufSize:
		// A large frame is done: give its buffer back.
		d.buf, d.r, d.w = nil, 0, 0
	case d.r > 0 && len(d.buf)-d.r < need:
		d.w = copy(d.buf, d.buf[d.r:d.w])
		d.r = 0
	}
	if len(d.buf)-d.r < need {
		nb := make([]byte, need)
		d.w = copy(nb, d.buf[d.r:d.w])
		d.buf, d.r = nb, 0
	}
	n, err := r.Read(d.buf[d.w:])
	d.w += n
	return n, err
}

// buffered reports the bytes read but not decoded.
func (d *decoder) buffered() int { return d.w - d.r }
