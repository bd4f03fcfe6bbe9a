package wire

import (
	"encoding/hex"
	"errors"
	"io"
)

// Framing errors. Errors returned by this package wrap one of these (test
// with errors.Is); the wrapping error adds the detail and quotes a short
// hex snippet of the offending input. CodeOf maps them to wire codes.
var (
	// ErrFrameTooLarge: a length prefix exceeds the connection's frame
	// limit. It is reported as soon as the 4 prefix bytes are read, before
	// anything is allocated for the frame.
	ErrFrameTooLarge = errors.New("wire: frame too large")

	// ErrFrameTooShort: a length prefix is below 5, the size of the type
	// byte and the request id that every frame carries.
	ErrFrameTooShort = errors.New("wire: frame too short")

	// ErrBadBody: a frame body is not exactly one well-formed msgpack map
	// of the expected body type: malformed msgpack, a declared length
	// larger than the bytes that remain, nesting deeper than 32, an unknown
	// field, a field of the wrong type, or trailing bytes.
	ErrBadBody = errors.New("wire: bad body")
)

// CodeOf maps an error returned by this package to the code a server sends
// before closing the connection:
//
//   - ErrFrameTooLarge → CodeFrameTooLarge
//   - ErrFrameTooShort and io.ErrUnexpectedEOF → CodeBadFrame
//   - ErrBadBody → CodeBadBody
//
// It returns CodeOK for nil and for every other error (io.EOF, network
// errors, deadlines): those are not the peer's protocol mistakes, and the
// caller decides what, if anything, to tell the peer.
func CodeOf(err error) Code {
	switch {
	case err == nil:
		return CodeOK
	case errors.Is(err, ErrFrameTooLarge):
		return CodeFrameTooLarge
	case errors.Is(err, ErrFrameTooShort), errors.Is(err, io.ErrUnexpectedEOF):
		return CodeBadFrame
	case errors.Is(err, ErrBadBody):
		return CodeBadBody
	}
	return CodeOK
}

// snippetLen is how many input bytes an error message quotes.
const snippetLen = 16

// snippet renders the first bytes of b as spaced hex ("dd ff ff ff ff"),
// with "..." when b is longer, for error messages (in the manner of
// nats-server's parser errors). Hex keeps hostile input out of logs.
func snippet(b []byte) string {
	more := len(b) > snippetLen
	if more {
		b = b[:snippetLen]
	}
	out := make([]byte, 0, 3*len(b)+3)
	for i, c := range b {
		if i > 0 {
			out = append(out, ' ')
		}
		out = hex.AppendEncode(out, []byte{c})
	}
	if more {
		out = append(out, "..."...)
	}
	return string(out)
}
