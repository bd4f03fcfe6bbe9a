package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/roamhq/roam/wire"
)

// readItem is one result of frameReader.next: a frame, or the header of a
// frame skipped for its size.
type readItem struct {
	typ     wire.Type
	rid     uint32
	body    []byte
	skipped uint32 // the skipped frame's length, 0 for a frame
}

// modelFrames is what a frameReader with the given limit must make of
// data: every frame in order (those above the limit as skipped headers),
// then io.EOF at a frame boundary, io.ErrUnexpectedEOF inside a frame, or
// wire.ErrFrameTooShort for a length below 5.
func modelFrames(data []byte, limit uint32) ([]readItem, error) {
	var out []readItem
	for {
		switch {
		case len(data) == 0:
			return out, io.EOF
		case len(data) < wire.HeaderSize:
			return out, io.ErrUnexpectedEOF
		}
		n := binary.BigEndian.Uint32(data)
		if n < wire.HeaderSize-4 {
			return out, wire.ErrFrameTooShort
		}
		if uint64(n)+4 > uint64(len(data)) {
			return out, io.ErrUnexpectedEOF
		}
		it := readItem{typ: wire.Type(data[4]), rid: binary.BigEndian.Uint32(data[5:])}
		if n > limit {
			it.skipped = n
		} else if n > wire.HeaderSize-4 {
			it.body = data[wire.HeaderSize : 4+n]
		}
		out = append(out, it)
		data = data[4+n:]
	}
}

// chunkReader hands out data in two pieces, cut at a point, and each
// piece at most size bytes per Read.
type chunkReader struct {
	pieces [2][]byte
	size   int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	i := 0
	if len(c.pieces[0]) == 0 {
		i = 1
	}
	if len(c.pieces[i]) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.size, len(c.pieces[i]))
	copy(p, c.pieces[i][:n])
	c.pieces[i] = c.pieces[i][n:]
	return n, nil
}

// FuzzFrameReader: the client library's frame reader, fed what a server
// (or anyone posing as one) sends, split in two anywhere and in reads of
// any size, gives exactly the frames the model gives: frames within
// Config.MaxFrame whole, those above it skipped (type, request id and
// length reported, the stream at the next frame), then the documented end.
// It never panics and never buffers a frame above the limit.
func FuzzFrameReader(f *testing.F) {
	frame := func(t wire.Type, rid uint32, body any) []byte {
		b, err := wire.AppendFrame(nil, t, rid, body)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	welcome := frame(wire.TWelcome, 1, &wire.Welcome{Version: 1, Node: "n1", Nodes: []string{"127.0.0.1:1"}, MaxFrame: 1 << 16})
	big := frame(wire.TFriends, 7, &wire.Friends{Friends: make([]wire.Friend, 300)})
	push := frame(wire.TMessage, 0, &wire.Message{Seq: 3, ID: 9, From: "bob", Body: []byte("hello")})
	stream := bytes.Join([][]byte{welcome, big, push, frame(wire.TPong, 2, &wire.Pong{ServerMS: 5})}, nil)
	for _, s := range [][]byte{
		stream, stream[:len(stream)-3], welcome[:wire.HeaderSize-1],
		{0, 0, 0, 4, 1}, {0, 0, 0, 5, 2, 0, 0, 0, 1},
		{0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 9}, // a 4 GiB frame: skipped without buffering
		{0x7f, 0xff, 0xff, 0xff, 3, 0, 0, 0, 9, 1, 2, 3},
		{},
	} {
		f.Add(s, uint16(len(s)/2), uint16(1000), uint8(0))
		f.Add(s, uint16(3), uint16(len(push)-1), uint8(7))
	}
	// A frame exactly at the limit is read; one byte more is skipped.
	f.Add(stream, uint16(9), uint16(len(push)-4), uint8(3))
	f.Add(stream, uint16(9), uint16(len(push)-5), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, cut, limit uint16, chunk uint8) {
		want, wantErr := modelFrames(data, uint32(limit))
		at := int(cut) % (len(data) + 1)
		for _, src := range []io.Reader{
			bytes.NewReader(data),
			&chunkReader{pieces: [2][]byte{data[:at], data[at:]}, size: 1 + int(chunk)},
		} {
			rd := newFrameReader(src, int(limit))
			var got []readItem
			var err error
			for {
				var fr wire.Frame
				fr, err = rd.next()
				if cap(rd.buf) > int(limit) {
					t.Fatalf("a buffer of %d bytes under a limit of %d", cap(rd.buf), limit)
				}
				var sk *errSkipped
				if errors.As(err, &sk) {
					if sk.limit != uint32(limit) || sk.length <= sk.limit {
						t.Fatalf("skipped %+v under a limit of %d", sk, limit)
					}
					got = append(got, readItem{typ: sk.typ, rid: sk.rid, skipped: sk.length})
					continue
				}
				if err != nil {
					break
				}
				got = append(got, readItem{typ: fr.Type, rid: fr.RID, body: bytes.Clone(fr.Body)})
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("cut at %d, chunk %d: got %+v, want %+v", at, chunk, got, want)
			}
			if !errors.Is(err, wantErr) {
				t.Fatalf("cut at %d, chunk %d: ended with %v, want %v", at, chunk, err, wantErr)
			}
		}
	})
}
