package wire

import (
	"encoding/binary"
	"fmt"
)

// maxDepth is the deepest nesting of arrays and maps a body may have. The
// deepest real body (SyncReply → messages → Message) has depth 3.
const maxDepth = 32

// CheckBody walks the msgpack bytes of a body without decoding anything and
// fails unless they are exactly one well-formed value in which
//
//   - every str/bin/ext declares no more bytes than remain,
//   - every array declares no more elements than bytes remain, and every map
//     no more entries than half the bytes that remain (each element takes at
//     least one byte),
//   - arrays and maps nest at most maxDepth deep.
//
// The walk allocates nothing (unless it fails) and its work is linear in
// len(b), so once it passes, whatever the msgpack decoder allocates is
// bounded by the body size. Errors wrap ErrBadBody.
func CheckBody(b []byte) error {
	s := scanner{b: b}
	if err := s.value(0); err != nil {
		return err
	}
	if s.pos != len(b) {
		return s.fail(s.pos, "%d trailing bytes after the body", len(b)-s.pos)
	}
	return nil
}

type scanner struct {
	b   []byte
	pos int
}

func (s *scanner) fail(at int, format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d [%s]", ErrBadBody, fmt.Sprintf(format, args...), at, snippet(s.b[at:]))
}

// value skips one msgpack value starting at s.pos; depth is the number of
// arrays and maps it is inside.
func (s *scanner) value(depth int) error {
	at := s.pos
	if at >= len(s.b) {
		return s.fail(at, "body ends where a value should start")
	}
	c := s.b[at]
	s.pos++
	switch {
	case c <= 0x7f, c >= 0xe0: // positive and negative fixint
		return nil
	case c <= 0x8f: // fixmap
		return s.container(at, depth, uint64(c&0x0f), 2)
	case c <= 0x9f: // fixarray
		return s.container(at, depth, uint64(c&0x0f), 1)
	case c <= 0xbf: // fixstr
		return s.skip(at, uint64(c&0x1f))
	}
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return nil
	case 0xcc, 0xd0: // uint8, int8
		return s.skip(at, 1)
	case 0xcd, 0xd1: // uint16, int16
		return s.skip(at, 2)
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return s.skip(at, 4)
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return s.skip(at, 8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type + data
		return s.skip(at, 1+(uint64(1)<<(c-0xd4)))
	case 0xc4, 0xd9: // bin8, str8
		return s.sized(at, 1, 0)
	case 0xc5, 0xda: // bin16, str16
		return s.sized(at, 2, 0)
	case 0xc6, 0xdb: // bin32, str32
		return s.sized(at, 4, 0)
	case 0xc7: // ext8: length, type, data
		return s.sized(at, 1, 1)
	case 0xc8: // ext16
		return s.sized(at, 2, 1)
	case 0xc9: // ext32
		return s.sized(at, 4, 1)
	case 0xdc: // array16
		return s.counted(at, depth, 2, 1)
	case 0xdd: // array32
		return s.counted(at, depth, 4, 1)
	case 0xde: // map16
		return s.counted(at, depth, 2, 2)
	case 0xdf: // map32
		return s.counted(at, depth, 4, 2)
	}
	return s.fail(at, "invalid msgpack code 0x%02x", c)
}

// uint reads a big-endian length of size bytes (1, 2 or 4) at s.pos.
func (s *scanner) uint(at, size int) (uint64, error) {
	if len(s.b)-s.pos < size {
		return 0, s.fail(at, "body ends inside a %d-byte length", size)
	}
	p := s.b[s.pos : s.pos+size]
	s.pos += size
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	}
	return uint64(binary.BigEndian.Uint32(p)), nil
}

// sized skips a str, bin or ext whose data length is a size-byte integer,
// followed by extra bytes (the ext type) before the data.
func (s *scanner) sized(at, size int, extra uint64) error {
	n, err := s.uint(at, size)
	if err != nil {
		return err
	}
	return s.skip(at, extra+n)
}

// skip steps over n bytes of data that must be present.
func (s *scanner) skip(at int, n uint64) error {
	if rest := uint64(len(s.b) - s.pos); n > rest {
		return s.fail(at, "value declares %d bytes but only %d remain", n, rest)
	}
	s.pos += int(n)
	return nil
}

// counted walks an array or map whose count is a size-byte integer.
func (s *scanner) counted(at, depth, size int, per uint64) error {
	n, err := s.uint(at, size)
	if err != nil {
		return err
	}
	return s.container(at, depth, n, per)
}

// container walks n elements (per = 1) or n entries (per = 2) of an array or
// map, each value at least one byte long.
func (s *scanner) container(at, depth int, n, per uint64) error {
	if depth >= maxDepth {
		return s.fail(at, "nesting deeper than %d", maxDepth)
	}
	values := n * per // n < 2^32, so no overflow
	if rest := uint64(len(s.b) - s.pos); values > rest {
		kind, what := "array", "elements"
		if per == 2 {
			kind, what = "map", "entries"
		}
		return s.fail(at, "%s declares %d %s but only %d bytes remain", kind, n, what, rest)
	}
	for i := uint64(0); i < values; i++ {
		if err := s.value(depth + 1); err != nil {
			return err
		}
	}
	return nil
}
