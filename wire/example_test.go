package wire_test

import (
	"bytes"
	"fmt"

	"github.com/roamhq/roam/wire"
)

// A client opens a connection with a Hello frame; the server reads it back.
func Example() {
	// Client side: encode the frame into a buffer and write it.
	var conn bytes.Buffer
	frame, err := wire.AppendFrame(nil, wire.THello, 1, &wire.Hello{
		Proto:   wire.Magic,
		Version: wire.Version,
		Client:  "example/1.0",
	})
	if err != nil {
		panic(err)
	}
	conn.Write(frame)
	fmt.Printf("frame: %d bytes, length prefix % x\n", len(frame), frame[:4])

	// Server side: read the frame, make the body for its type, decode.
	rd := wire.NewReader(&conn, wire.DefaultMaxFrame)
	f, err := rd.ReadFrame()
	if err != nil {
		panic(err)
	}
	body := wire.NewBody(f.Type)
	if err := wire.Decode(f.Body, body); err != nil {
		fmt.Println("refuse with", wire.CodeOf(err))
		return
	}
	hello := body.(*wire.Hello)
	fmt.Printf("%s rid=%d proto=%s version=%d client=%s\n", f.Type, f.RID, hello.Proto, hello.Version, hello.Client)

	// A misspelled field is refused with a stable code.
	bad, _ := wire.Encode(map[string]any{"prot": "roam"})
	fmt.Println("misspelled:", wire.CodeOf(wire.Decode(bad, new(wire.Hello))))

	// Output:
	// frame: 49 bytes, length prefix 00 00 00 2d
	// hello rid=1 proto=roam version=1 client=example/1.0
	// misspelled: bad_body
}
