package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

const (
	// HeaderSize is the size of a frame header: the length prefix (4), the
	// type (1) and the request id (4).
	HeaderSize = 9

	// DefaultMaxFrame is the default limit on a frame's length prefix,
	// that is on 5 + the body size.
	DefaultMaxFrame = 64 << 10

	// prefixSize is the size of the length prefix.
	prefixSize = 4
	// minLength is the smallest valid length prefix: type + request id.
	minLength = HeaderSize - prefixSize
)

// Frame is one decoded frame.
//
// Body aliases memory owned by the Decoder or Reader that returned the
// frame: it is valid only until the next call on that Decoder or Reader.
// Copy it (or Decode it) before reading on. Body is nil when the frame has
// no body.
type Frame struct {
	Type Type
	RID  uint32 // request id; 0 for pushes
	Body []byte // one msgpack map, or empty
}

// AppendFrame msgpack-encodes body and appends one frame carrying it to
// dst. A nil body (or a nil pointer) gives a frame with an empty body.
// body is normally a pointer to one of the body structs (see NewBody); to
// send bytes that are already msgpack, use AppendRaw.
//
// Encoding reuses a pooled encoder that appends straight into dst, so when
// dst has room for the frame, AppendFrame does not allocate for the hot
// body types. On error dst is returned unchanged.
//
// AppendFrame does not know the peer's frame limit: a sender that must
// respect it checks len(frame)-4 against the limit itself.
func AppendFrame(dst []byte, t Type, rid uint32, body any) ([]byte, error) {
	start := len(dst)
	dst = appendHeader(dst, t, rid)
	out, err := appendBody(dst, body)
	if err != nil {
		return dst[:start], fmt.Errorf("wire: encode %s frame: %w", t, err)
	}
	n := len(out) - start - prefixSize
	if uint64(n) > math.MaxUint32 {
		return dst[:start], fmt.Errorf("%w: %s body of %d bytes", ErrFrameTooLarge, t, n-minLength)
	}
	binary.BigEndian.PutUint32(out[start:], uint32(n))
	return out, nil
}

// AppendRaw appends one frame whose body is the given bytes, copied as
// they are (normally msgpack produced by Encode, or nil). It panics if the
// body is too large for a 32-bit length prefix.
func AppendRaw(dst []byte, t Type, rid uint32, body []byte) []byte {
	if uint64(len(body)) > math.MaxUint32-minLength {
		panic("wire: AppendRaw: body too large for a frame")
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(minLength+len(body)))
	dst = append(dst, byte(t))
	dst = binary.BigEndian.AppendUint32(dst, rid)
	return append(dst, body...)
}

// appendHeader appends a header with a zero length prefix, to be patched
// once the body is known.
func appendHeader(dst []byte, t Type, rid uint32) []byte {
	dst = append(dst, 0, 0, 0, 0, byte(t))
	return binary.BigEndian.AppendUint32(dst, rid)
}

// maxLimit is the highest frame limit: a whole frame's size must fit in an
// int on 32-bit platforms too.
const maxLimit = math.MaxInt32 - HeaderSize

// frameLimit turns a maxFrame argument into the limit on length prefixes:
// <= 0 means DefaultMaxFrame, and the limit is at least 5 and at most
// maxLimit (2 GiB).
func frameLimit(maxFrame int) uint32 {
	switch {
	case maxFrame <= 0:
		return DefaultMaxFrame
	case maxFrame < minLength:
		return minLength
	case uint64(maxFrame) > maxLimit:
		return maxLimit
	}
	return uint32(maxFrame)
}

// checkLength validates the length prefix at the start of p (len(p) >= 4)
// against limit. It allocates nothing unless it fails; the error quotes the
// start of p.
func checkLength(p []byte, limit uint32) (uint32, error) {
	n := binary.BigEndian.Uint32(p)
	switch {
	case n < minLength:
		return 0, fmt.Errorf("%w: length %d is below %d [%s]", ErrFrameTooShort, n, minLength, snippet(p))
	case n > limit:
		return 0, fmt.Errorf("%w: length %d exceeds the limit of %d [%s]", ErrFrameTooLarge, n, limit, snippet(p))
	}
	return n, nil
}

// parseFrame splits a complete frame's bytes after the length prefix
// (type, request id, body) into a Frame aliasing p.
func parseFrame(p []byte) Frame {
	f := Frame{Type: Type(p[0]), RID: binary.BigEndian.Uint32(p[1:minLength])}
	if len(p) > minLength {
		f.Body = p[minLength:len(p):len(p)]
	}
	return f
}
