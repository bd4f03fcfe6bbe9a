package hlr

import (
	"bytes"
	"strings"
	"testing"
)

// TestEstimateSize_IsAnUpperBound checks that the proposer's size estimate
// never undercounts, so a batch it accepts fits in MaxBatchBytes.
func TestEstimateSize_IsAnUpperBound(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536, 70000} {
		name, about := long(n), long(n)
		max := ^uint64(0)
		c := Cmd{
			Op: OpSetCreds, User: long(n), Peer: long(n), Device: long(n), Node: long(n),
			Creds: &Creds{Salt: bytes.Repeat([]byte{1}, n), Iters: ^uint32(0),
				StoredKey: bytes.Repeat([]byte{2}, n), ServerKey: bytes.Repeat([]byte{3}, n)},
			Token: bytes.Repeat([]byte{4}, n), NewToken: bytes.Repeat([]byte{5}, n),
			TTLMS: -1 << 63, CredGen: max, Epoch: max, CMID: max, Seq: max, ID: max,
			Body: bytes.Repeat([]byte{6}, n), Name: &name, About: &about,
			Limit: -1 << 62, Reason: long(n),
		}
		if est, enc := estimateSize(&c), encodedSize(&c); est < enc {
			t.Fatalf("field size %d: estimate %d < encoded %d", n, est, enc)
		}
	}
}
