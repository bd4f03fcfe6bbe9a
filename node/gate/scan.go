package gate

import (
	"encoding/binary"
	"fmt"
)

// maxDepth bounds the nesting of arrays and maps in a body. The deepest
// real body (a reply → Answer → Inbox → messages → Message) nests 5 deep.
const maxDepth = 24

// checkBody walks the msgpack encoding in b without decoding it and fails
// unless b holds exactly one value in which every declared length (string,
// binary, extension, array, map) fits in the bytes that remain and nesting
// stays within maxDepth. Once it passes, what the msgpack decoder
// allocates is bounded by len(b) whatever the library version (msgpack
// v5.4.0 and v5.4.1 allocate gigabytes for `dd ff ff ff ff`). The walk is
// linear in len(b) and allocates only for its error. Errors wrap
// ErrProtocol.
func checkBody(b []byte) error {
	w := walker{b: b}
	if err := w.value(0); err != nil {
		return err
	}
	if w.i != len(b) {
		return w.fail(w.i, "%d bytes after the body", len(b)-w.i)
	}
	return nil
}

type walker struct {
	b []byte
	i int
}

func (w *walker) fail(at int, format string, args ...any) error {
	return fmt.Errorf("%w: bad body: %s at offset %d [%s]", ErrProtocol, fmt.Sprintf(format, args...), at, snippet(w.b[min(at, len(w.b)):]))
}

// value steps over one value; depth counts the containers around it.
func (w *walker) value(depth int) error {
	at := w.i
	if at >= len(w.b) {
		return w.fail(at, "missing value")
	}
	c := w.b[at]
	w.i++
	switch {
	case c <= 0x7f || c >= 0xe0: // fixint
		return nil
	case c <= 0x8f: // fixmap
		return w.items(at, depth, uint64(c&0x0f)*2)
	case c <= 0x9f: // fixarray
		return w.items(at, depth, uint64(c&0x0f))
	case c <= 0xbf: // fixstr
		return w.skip(at, uint64(c&0x1f))
	}
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return nil
	case 0xcc, 0xd0: // uint8, int8
		return w.skip(at, 1)
	case 0xcd, 0xd1: // uint16, int16
		return w.skip(at, 2)
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return w.skip(at, 4)
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return w.skip(at, 8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1..16: type, data
		return w.skip(at, 1+uint64(1)<<(c-0xd4))
	case 0xc4, 0xd9: // bin8, str8
		return w.sized(at, 1, 0)
	case 0xc5, 0xda: // bin16, str16
		return w.sized(at, 2, 0)
	case 0xc6, 0xdb: // bin32, str32
		return w.sized(at, 4, 0)
	case 0xc7: // ext8: length, type, data
		return w.sized(at, 1, 1)
	case 0xc8: // ext16
		return w.sized(at, 2, 1)
	case 0xc9: // ext32
		return w.sized(at, 4, 1)
	case 0xdc, 0xde: // array16, map16
		n, err := w.length(at, 2)
		if c == 0xde {
			n *= 2
		}
		if err != nil {
			return err
		}
		return w.items(at, depth, n)
	case 0xdd, 0xdf: // array32, map32
		n, err := w.length(at, 4)
		if c == 0xdf {
			n *= 2
		}
		if err != nil {
			return err
		}
		return w.items(at, depth, n)
	}
	return w.fail(at, "invalid code 0x%02x", c)
}

// length reads a big-endian length of size 1, 2 or 4 bytes.
func (w *walker) length(at, size int) (uint64, error) {
	if len(w.b)-w.i < size {
		return 0, w.fail(at, "truncated length")
	}
	p := w.b[w.i : w.i+size]
	w.i += size
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	}
	return uint64(binary.BigEndian.Uint32(p)), nil
}

// sized steps over data whose length is a size-byte integer, preceded by
// extra bytes (an extension's type).
func (w *walker) sized(at, size int, extra uint64) error {
	n, err := w.length(at, size)
	if err != nil {
		return err
	}
	return w.skip(at, extra+n)
}

func (w *walker) skip(at int, n uint64) error {
	if rest := uint64(len(w.b) - w.i); n > rest {
		return w.fail(at, "%d bytes declared, %d remain", n, rest)
	}
	w.i += int(n)
	return nil
}

// items steps over n values of an array (or n/2 entries of a map). Each
// value takes at least one byte, so n is checked against what remains
// before the walk starts.
func (w *walker) items(at, depth int, n uint64) error {
	if depth >= maxDepth {
		return w.fail(at, "nested deeper than %d", maxDepth)
	}
	if rest := uint64(len(w.b) - w.i); n > rest {
		return w.fail(at, "%d values declared, %d bytes remain", n, rest)
	}
	for ; n > 0; n-- {
		if err := w.value(depth + 1); err != nil {
			return err
		}
	}
	return nil
}
