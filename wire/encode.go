package wire

import (
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Encode returns the msgpack encoding of a body, as AppendFrame writes it.
// A nil body (or a nil pointer) encodes as no bytes.
func Encode(v any) ([]byte, error) {
	return appendBody(nil, v)
}

// bodyEncoder is a msgpack encoder bound for life to an append buffer, so
// that encoding appends straight into the caller's slice. It is pooled.
type bodyEncoder struct {
	buf []byte
	enc *msgpack.Encoder
}

// Write and WriteByte make bodyEncoder the msgpack encoder's writer.
func (b *bodyEncoder) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *bodyEncoder) WriteByte(c byte) error {
	b.buf = append(b.buf, c)
	return nil
}

var encoders = sync.Pool{New: func() any {
	b := new(bodyEncoder)
	b.enc = msgpack.NewEncoder(b)
	// Integers take the smallest msgpack form. Decoders accept any integer
	// form for any integer field, so this only saves bytes.
	b.enc.UseCompactInts(true)
	return b
}}

// appendBody appends the msgpack encoding of body to dst.
func appendBody(dst []byte, body any) ([]byte, error) {
	if body == nil {
		return dst, nil
	}
	if out, ok := appendFast(dst, body); ok {
		return out, nil
	}
	if rv := reflect.ValueOf(body); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return dst, nil
	}
	return appendReflect(dst, body)
}

// appendReflect encodes with the pooled msgpack encoder.
func appendReflect(dst []byte, body any) ([]byte, error) {
	b := encoders.Get().(*bodyEncoder)
	b.buf = dst
	err := b.enc.Encode(body)
	out := b.buf
	b.buf = nil
	encoders.Put(b)
	if err != nil {
		return dst, err
	}
	return out, nil
}
