// Package wire is roam's client protocol on the byte level: frame types,
// body structs, error codes, and the framing layer that reads and writes
// them. PROTOCOL.md is the specification for client writers; this is the
// manual for Go code.
//
// # Frames
//
// A connection carries frames in both directions:
//
//	+----------------+--------+----------------+-----------------------+
//	| length uint32  | type   | rid uint32     | body                  |
//	| big-endian     | 1 byte | big-endian     | one msgpack map, or   |
//	|                |        |                | nothing               |
//	+----------------+--------+----------------+-----------------------+
//	 <-- 4 bytes --> <------------- length bytes ---------------------->
//
// length counts the bytes after it, so it is at least 5 and at most the
// connection's frame limit (DefaultMaxFrame unless configured; servers
// announce theirs in Welcome.MaxFrame). rid is the request id: a client
// numbers its requests, the server's reply carries the same rid, and pushes
// carry 0. The Type enum (types.go) and the Code table (codes.go) are
// append-only: numbers are never reused.
//
// # Writing
//
// AppendFrame encodes a body and appends the whole frame to a buffer:
//
//	buf, err := wire.AppendFrame(buf[:0], wire.TSend, rid, &wire.Send{To: "bob", CMID: 7, Body: text})
//	if err != nil { ... }
//	conn.Write(buf)
//
// It appends in place through a pooled encoder, so a writer that reuses its
// buffer allocates nothing per frame on the hot paths. Encode gives a body
// on its own, and AppendRaw frames bytes that are already encoded.
//
// # Reading
//
// Two readers apply the same rules. Reader pulls frames from an io.Reader
// (a net.Conn); it is what a goroutine per connection uses:
//
//	rd := wire.NewReader(conn, maxFrame)
//	for {
//		f, err := rd.ReadFrame() // io.EOF when the peer closed cleanly
//		if err != nil { ... }
//		body := wire.NewBody(f.Type) // nil for a type this version does not know
//		if body == nil { ... CodeUnknownType ... }
//		if err := wire.Decode(f.Body, body); err != nil { ... CodeBadBody ... }
//		...
//	}
//
// Decoder is the same parser driven by pushing bytes into it (Feed) and
// pulling frames out (Next), for event loops and tests. Both keep their
// state across short reads: a frame may arrive in any number of pieces. A
// Reader also survives a read deadline in the middle of a frame: the next
// ReadFrame carries on where the last one stopped.
//
// A frame's Body points into the reader's buffer and is valid only until
// the next call on that reader. Decode it (Decode copies what it keeps) or
// copy it before reading on.
//
// The framing layer does not judge the type byte: unknown types are
// returned like any other so that the server can answer CodeUnknownType.
//
// # Limits and hostile input
//
// Every length prefix is checked against the limit as soon as its 4 bytes
// arrive, before anything is allocated for the frame, so a peer cannot make
// a Reader hold more than maxFrame+HeaderSize bytes for one frame.
//
// A small frame can still be a bomb: msgpack/v5 v5.4.0 and v5.4.1 allocate
// gigabytes for the 5 bytes "dd ff ff ff ff" (an array declaring 2^32-1
// elements, upstream issue #401). Decode therefore walks the body first and
// refuses any str/bin/array/map/ext that declares more than the bytes that
// remain, and nesting deeper than 32, whatever msgpack version is linked.
// Decoding is strict: unknown fields, fields of the wrong type and trailing
// bytes are errors, so a client learns at once that it misspelled a key.
//
// # Errors
//
// Framing errors wrap ErrFrameTooLarge, ErrFrameTooShort or ErrBadBody and
// quote a short hex snippet of the offending bytes. CodeOf maps them to the
// Code to send before closing the connection (all are Fatal); it returns
// CodeOK for errors that are not the peer's fault, such as network errors.
package wire
