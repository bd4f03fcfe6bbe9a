package wire

import (
	"bytes"
	"math/rand"
	"reflect"
	"runtime"
	"testing"
)

// allTypes returns every known frame type.
func allTypes() []Type {
	var ts []Type
	for t := TInvalid + 1; t <= MaxType; t++ {
		if t.Known() { // the enum has gaps (numbers of other features)
			ts = append(ts, t)
		}
	}
	return ts
}

// filled returns NewBody(t) with every field set to a pseudo-random,
// non-zero value (so that omitempty fields are present). New fields in
// messages.go are covered without touching the tests.
func filled(t Type, r *rand.Rand) any {
	v := NewBody(t)
	fill(reflect.ValueOf(v).Elem(), r, 0)
	return v
}

func fill(v reflect.Value, r *rand.Rand, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(randString(r))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		v.SetUint(randUint(r) | 1)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(int64(randUint(r)) | 1)
	case reflect.Float32, reflect.Float64: // scene positions
		v.SetFloat(r.NormFloat64() * 1000)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, 1+r.Intn(300))
			r.Read(b)
			v.SetBytes(b)
			return
		}
		n := 1 + r.Intn(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fill(s.Index(i), r, depth+1)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), r, depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), r, depth+1)
			}
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String() + " in " + v.Type().String())
	}
}

// randUint returns values of every msgpack integer width.
func randUint(r *rand.Rand) uint64 {
	switch r.Intn(5) {
	case 0:
		return uint64(r.Intn(128))
	case 1:
		return uint64(r.Intn(256))
	case 2:
		return uint64(r.Intn(1 << 16))
	case 3:
		return uint64(r.Uint32())
	}
	return r.Uint64()
}

// randString returns strings of every msgpack str width.
func randString(r *rand.Rand) string {
	sizes := []int{1, 5, 31, 32, 200, 255, 256, 1000}
	n := sizes[r.Intn(len(sizes))]
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(r.Intn(26))
	}
	return string(b)
}

// bombs are inputs that declare far more than they hold, or nest absurdly.
// Each must be refused by the walk in checkBody.
func bombs() map[string][]byte {
	nest := func(open []byte, n int, leaf []byte) []byte {
		return append(bytes.Repeat(open, n), leaf...)
	}
	outer := func(key string, inner ...byte) []byte {
		b := appendStr([]byte{0x81}, key)
		return append(b, inner...)
	}
	return map[string][]byte{
		"array32":              {0xdd, 0xff, 0xff, 0xff, 0xff},
		"map32":                {0xdf, 0xff, 0xff, 0xff, 0xff},
		"str32":                {0xdb, 0xff, 0xff, 0xff, 0xff},
		"bin32":                {0xc6, 0xff, 0xff, 0xff, 0xff},
		"ext32":                {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01},
		"array16":              {0xdc, 0xff, 0xff},
		"map16":                {0xde, 0xff, 0xff},
		"str16":                {0xda, 0xff, 0xff},
		"bin16":                {0xc5, 0xff, 0xff},
		"ext16":                {0xc8, 0xff, 0xff, 0x01},
		"str8":                 {0xd9, 0xff},
		"bin8":                 {0xc4, 0xff},
		"ext8":                 {0xc7, 0xff, 0x01},
		"fixmap15":             {0x8f},
		"array10000deep":       nest([]byte{0x91}, 10000, []byte{0xc0}),
		"map10000deep":         nest([]byte{0x81, 0xa1, 'k'}, 10000, []byte{0xc0}),
		"array33deep":          append([]byte{0x81, 0xa1, 'k'}, nest([]byte{0x91}, 32, []byte{0xc0})...),
		"inner map32":          outer("user", 0xdf, 0xff, 0xff, 0xff, 0xff),
		"inner array32":        outer("friends", 0xdd, 0xff, 0xff, 0xff, 0xff),
		"inner array32 big":    outer("messages", 0xdd, 0x00, 0x01, 0x00, 0x00, 0x80, 0x80),
		"inner str32":          outer("to", 0xdb, 0xff, 0xff, 0xff, 0xff),
		"inner bin32":          outer("body", 0xc6, 0x7f, 0xff, 0xff, 0xff, 'x'),
		"inner ext32":          outer("body", 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01),
		"inner fixext16":       outer("body", 0xd8, 0x01, 0x00),
		"inner map32 in array": outer("nodes", 0x91, 0xdf, 0xff, 0xff, 0xff, 0xff),
		"map32 counts keys":    append([]byte{0xdf, 0x00, 0x00, 0x00, 0x02}, 0xa1, 'k', 0xc0),
	}
}

// allocated runs f and returns how many bytes the heap allocated meanwhile.
// Tests that use it must not run in parallel.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// collect drains d, copying each frame's body.
func collect(t testing.TB, d *Decoder, into []Frame) ([]Frame, error) {
	t.Helper()
	for {
		f, ok, err := d.Next()
		if err != nil {
			return into, err
		}
		if !ok {
			return into, nil
		}
		f.Body = bytes.Clone(f.Body)
		into = append(into, f)
	}
}

// sameFrames reports whether two frame lists are equal.
func sameFrames(a, b []Frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].RID != b[i].RID || !bytes.Equal(a[i].Body, b[i].Body) {
			return false
		}
	}
	return true
}
