package node

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// pieces returns its chunks one per Read (at most len(p) bytes each), so
// that a decoder sees its input arrive in parts.
type pieces struct {
	chunks [][]byte
	read   int // bytes handed out
}

func (p *pieces) Read(b []byte) (int, error) {
	for len(p.chunks) > 0 && len(p.chunks[0]) == 0 {
		p.chunks = p.chunks[1:]
	}
	if len(p.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.chunks[0])
	p.chunks[0] = p.chunks[0][n:]
	p.read += n
	return n, nil
}

func adminSeeds(f *testing.F) [][]byte {
	full, err := msgpack.Marshal(partStatus{Open: true, Leader: true, LastIndex: 1 << 40, Servers: []string{"n1", "n2", "n3"}})
	if err != nil {
		f.Fatal(err)
	}
	empty, _ := msgpack.Marshal(partStatus{})
	key := func(k string, v ...byte) []byte {
		return append(append([]byte{0x81, 0xa0 | byte(len(k))}, k...), v...)
	}
	return [][]byte{
		full, empty, full[:len(full)/2], append(bytes.Clone(full), 0xc1, 0xff),
		{0xdd, 0xff, 0xff, 0xff, 0xff},                          // array32 bomb
		{0xdf, 0xff, 0xff, 0xff, 0xff},                          // map32 bomb
		key("servers", 0xdd, 0x7f, 0xff, 0xff, 0xff, 0xa1, 'x'), // a huge server list
		key("servers", 0x91, 0xdb, 0x7f, 0xff, 0xff, 0xff),      // a huge server name
		key("last_index", 0xa3, 'a', 'b', 'c'),                  // the wrong type
		key("unknown", 0xc0),                                    // a field this version does not know
		{0xc1},                                                  // never used in msgpack
		{},
	}
}

// FuzzAdminStatus: whatever a peer answers on the admin stream (mux kind
// 'A'), reading it as a partition status (askStatus's decodeStatus) never
// panics, reads at most its limit, allocates in proportion to the input
// (not to what the input declares), fails only with the documented errors,
// and gives the same result however the bytes arrive. A status it accepts,
// and any status the serving side (serveAdmin) encodes, decodes back to
// the same value.
func FuzzAdminStatus(f *testing.F) {
	for i, s := range adminSeeds(f) {
		f.Add(s, uint16(adminReplyLimit-1), uint16(i), false, "")
		f.Add(s, uint16(len(s)/2), uint16(len(s)/2), true, "n1,n2")
	}
	f.Fuzz(func(t *testing.T, data []byte, limit, cut uint16, leader bool, servers string) {
		lim := 1 + int(limit)
		at := int(cut) % (len(data) + 1)

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := &pieces{chunks: [][]byte{bytes.Clone(data[:at]), bytes.Clone(data[at:])}}
		st, err := decodeStatus(r, lim)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20+64*uint64(len(data)) {
			t.Fatalf("decoding %d bytes allocated %d", len(data), grew)
		}
		if r.read > lim {
			t.Fatalf("read %d bytes past a limit of %d", r.read, lim)
		}
		whole, werr := decodeStatus(bytes.NewReader(data), lim)
		if !reflect.DeepEqual(st, whole) || (err == nil) != (werr == nil) {
			t.Fatalf("split at %d: %+v, %v; whole: %+v, %v", at, st, err, whole, werr)
		}
		switch {
		case err == nil:
			roundTrip(t, st)
		case errors.Is(err, errAdminTooLarge), errors.Is(err, errAdminBadReply),
			err == io.EOF && len(data) == 0, err == io.ErrUnexpectedEOF:
		default:
			t.Fatalf("undocumented error %v (%T) for % x", err, err, data)
		}

		// The serving side: any status it can send is read back as sent.
		sent := partStatus{Open: len(data) > 0, Leader: leader, LastIndex: uint64(len(data))<<32 | uint64(limit)}
		if servers != "" {
			sent.Servers = strings.Split(servers, ",")
		}
		roundTrip(t, sent)
	})
}

// roundTrip checks that st, encoded as serveAdmin encodes it, decodes
// back to st.
func roundTrip(t *testing.T, st partStatus) {
	t.Helper()
	b, err := msgpack.Marshal(st)
	if err != nil {
		t.Fatalf("encode %+v: %v", st, err)
	}
	got, err := decodeStatus(bytes.NewReader(b), len(b)+1)
	if err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("%+v encodes as % x, which decodes as %+v, %v", st, b, got, err)
	}
}
