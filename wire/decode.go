package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// Decode decodes a frame body into v, a pointer to a body struct (see
// NewBody), strictly:
//
//   - an empty body decodes as the zero value;
//   - otherwise the body must be exactly one msgpack map: trailing bytes
//     are an error, and so is an array, nil or scalar in its place;
//   - a key that is not a field of v is an error, and so is a value of the
//     wrong type;
//   - keys that are absent leave their fields at the zero value (v is
//     zeroed first).
//
// Before anything is decoded, the bytes are walked once and every declared
// str/bin/array/map/ext length is checked against the bytes that remain,
// and nesting deeper than maxDepth is refused. A 5-byte input therefore
// cannot make the decoder allocate gigabytes (msgpack/v5 issue #401),
// whatever version of msgpack is linked.
//
// Errors about the body wrap ErrBadBody and quote a hex snippet of it. After
// an error, v may hold part of the body.
func Decode(body []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("wire: Decode into %T: need a non-nil pointer", v)
	}
	elem := rv.Elem()
	elem.SetZero()
	if len(body) == 0 {
		return nil
	}
	if elem.Kind() == reflect.Struct && !isMap(body[0]) {
		return fmt.Errorf("%w: body is not a map [%s]", ErrBadBody, snippet(body))
	}
	if err := CheckBody(body); err != nil {
		return err
	}
	d := decoders.Get().(*bodyDecoder)
	d.r.Reset(body)
	d.dec.Reset(&d.r) // also clears the options
	d.dec.DisallowUnknownFields(true)
	err := d.dec.Decode(v)
	rest := d.r.Len()
	d.r.Reset(nil)
	decoders.Put(d)
	if err != nil {
		return fmt.Errorf("%w: %s [%s]", ErrBadBody, shorten(err.Error()), snippet(body))
	}
	if rest != 0 {
		// CheckBody rules this out; kept as a second line of defence.
		off := len(body) - rest
		return fmt.Errorf("%w: %d trailing bytes at offset %d [%s]", ErrBadBody, rest, off, snippet(body[off:]))
	}
	return nil
}

// bodyDecoder is a pooled msgpack decoder reading from a bytes.Reader,
// which needs no bufio buffer.
type bodyDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	d := new(bodyDecoder)
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

// shorten caps an error text from msgpack, which may quote a whole field
// name sent by the peer.
func shorten(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// isMap reports whether c starts a msgpack map.
func isMap(c byte) bool { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }
