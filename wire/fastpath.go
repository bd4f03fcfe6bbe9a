package wire

import (
	"encoding/binary"
	"math"
)

// Hand-written encoders for hot body types.
//
// msgpack/v5 allocates a field list on every encode of a struct that has
// `omitempty` fields, which would cost the send path 2 allocations per
// frame. The bodies below are on hot paths and have such fields, so they
// are encoded here instead, producing exactly the bytes the pooled msgpack
// encoder (compact ints) would: TestFastPathMatchesMsgpack compares the two
// on randomly filled values, and fails if messages.go gains or renames a
// field without this file following.

// appendFast encodes the hot body types; ok is false for the others.
func appendFast(b []byte, body any) (out []byte, ok bool) {
	switch m := body.(type) {
	case *Send:
		if m == nil {
			return b, true
		}
		return appendSend(b, m), true
	case *SendAck:
		if m == nil {
			return b, true
		}
		return appendSendAck(b, m), true
	case *Error:
		if m == nil {
			return b, true
		}
		return appendError(b, m), true
	case *Sync:
		if m == nil {
			return b, true
		}
		return appendSync(b, m), true
	}
	return b, false
}

func appendSend(b []byte, m *Send) []byte {
	n := 3
	if m.TTLMS != 0 {
		n++
	}
	b = appendMapLen(b, n)
	b = appendStr(appendStr(b, "to"), m.To)
	b = appendUint(appendStr(b, "cmid"), m.CMID)
	b = appendBin(appendStr(b, "body"), m.Body)
	if m.TTLMS != 0 {
		b = appendUint(appendStr(b, "ttl_ms"), uint64(m.TTLMS))
	}
	return b
}

func appendSendAck(b []byte, m *SendAck) []byte {
	n := 2
	if m.Dup {
		n++
	}
	b = appendMapLen(b, n)
	b = appendUint(appendStr(b, "id"), m.ID)
	b = appendUint(appendStr(b, "seq"), m.Seq)
	if m.Dup {
		b = appendBool(appendStr(b, "dup"), m.Dup)
	}
	return b
}

func appendError(b []byte, m *Error) []byte {
	n := 2
	if m.RetryAfterMS != 0 {
		n++
	}
	b = appendMapLen(b, n)
	b = appendUint(appendStr(b, "code"), uint64(m.Code))
	b = appendStr(appendStr(b, "message"), m.Message)
	if m.RetryAfterMS != 0 {
		b = appendUint(appendStr(b, "retry_after_ms"), uint64(m.RetryAfterMS))
	}
	return b
}

func appendSync(b []byte, m *Sync) []byte {
	n := 1
	if m.Limit != 0 {
		n++
	}
	b = appendMapLen(b, n)
	b = appendUint(appendStr(b, "after"), m.After)
	if m.Limit != 0 {
		b = appendUint(appendStr(b, "limit"), uint64(m.Limit))
	}
	return b
}

// msgpack primitives, in the forms msgpack/v5 chooses.

func appendMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 256:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// appendBin encodes a nil slice as msgpack nil, like msgpack/v5.
func appendBin(b []byte, p []byte) []byte {
	if p == nil {
		return append(b, 0xc0)
	}
	switch n := len(p); {
	case n < 256:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= math.MaxInt8:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}
