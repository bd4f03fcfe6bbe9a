package gossip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestMeta_RoundTrip(t *testing.T) {
	for _, m := range []nodeMeta{
		{},
		{Meta: Meta{ClientAddr: "10.0.0.1:5222", InternalAddr: "10.0.0.1:7000", Load: 1<<32 - 1}, ClusterID: "c1", Flags: flagLeaving},
		{Meta: Meta{ClientAddr: "a", Leaders: 64}},
		{Meta: Meta{ClientAddr: "a", Leaders: MaxPartitions}},
		{Meta: Meta{ClientAddr: "a", Leaders: -1}}, // an older node's meta
	} {
		got, err := decodeMeta(m.encode())
		if err != nil || got != m {
			t.Errorf("decode(encode(%+v)) = %+v, %v", m, got, err)
		}
	}
	// Fields appended by a later version are ignored.
	m := nodeMeta{Meta: Meta{ClientAddr: "a", Load: 9, Leaders: 7}}
	if got, err := decodeMeta(append(m.encode(), 1, 2, 3)); err != nil || got != m {
		t.Errorf("with trailing bytes: %+v, %v", got, err)
	}
	// A meta without the leader count (an older node) says nothing about it.
	old := nodeMeta{Meta: Meta{ClientAddr: "a", Load: 9, Leaders: -1}}.encode()
	if got, err := decodeMeta(old); err != nil || got.Leaders != -1 || got.Load != 9 {
		t.Errorf("older meta: %+v, %v", got, err)
	}
}

func TestMeta_DecodeRejectsGarbage(t *testing.T) {
	// The required fields (the leader count after them is optional).
	full := nodeMeta{Meta: Meta{ClientAddr: "x:1", InternalAddr: "y:2", Load: 3, Leaders: -1}, ClusterID: "c"}.encode()
	for i := range full { // every truncation
		if _, err := decodeMeta(full[:i]); !errors.Is(err, errBadEncoding) {
			t.Errorf("truncated to %d bytes: err = %v", i, err)
		}
	}
	// A leader count cut in the middle of its varint, or out of range.
	withLeaders := nodeMeta{Meta: Meta{ClientAddr: "x:1", Leaders: 300}, ClusterID: "c"}.encode()
	if _, err := decodeMeta(withLeaders[:len(withLeaders)-1]); !errors.Is(err, errBadEncoding) {
		t.Errorf("truncated leader count: err = %v", err)
	}
	if _, err := decodeMeta(binary.AppendUvarint(append([]byte(nil), full...), MaxPartitions+2)); !errors.Is(err, errBadEncoding) {
		t.Errorf("leader count out of range: err = %v", err)
	}
	for _, b := range [][]byte{
		{2, 0, 0, 0, 0, 0, 0, 0, 0},                   // unknown version
		{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},          // huge declared length
		{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // varint overflow
		{1, 0, 65, 'x'},                               // cluster id over its limit
	} {
		if _, err := decodeMeta(b); !errors.Is(err, errBadEncoding) {
			t.Errorf("decodeMeta(% x): err = %v", b, err)
		}
	}
}

func TestParams_RoundTripAndValidate(t *testing.T) {
	p := ClusterParams{ClusterID: "c1", Partitions: MaxPartitions, Replicas: 3}
	if got, err := decodeParams(encodeParams(p)); err != nil || got != p {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []ClusterParams{
		{ClusterID: "", Partitions: 1, Replicas: 1},
		{ClusterID: "c", Partitions: 0, Replicas: 1},
		{ClusterID: "c", Partitions: 1, Replicas: 0},
		{ClusterID: "c", Partitions: MaxPartitions + 1, Replicas: 1},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v valid", bad)
		}
		if _, err := decodeParams(encodeParams(bad)); err == nil {
			t.Errorf("decodeParams accepted %+v", bad)
		}
	}
}

// The decoders face bytes from the network (after decryption, so from a
// key holder, but still): they must never panic or over-allocate.
func FuzzDecodeMeta(f *testing.F) {
	f.Add(nodeMeta{Meta: Meta{ClientAddr: "x:1", InternalAddr: "y:2", Load: 3}, ClusterID: "c"}.encode())
	f.Add(encodeParams(testParams))
	f.Add([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeMeta(b); err == nil {
			if again, err := decodeMeta(m.encode()); err != nil || again != m {
				t.Fatalf("re-encode of %+v: %+v, %v", m, again, err)
			}
			if !bytes.HasPrefix(b, m.encode()) {
				t.Fatalf("%x decoded to %+v which encodes differently", b, m)
			}
		}
		if p, err := decodeParams(b); err == nil {
			if again, err := decodeParams(encodeParams(p)); err != nil || again != p {
				t.Fatalf("re-encode of %+v: %+v, %v", p, again, err)
			}
		}
	})
}
