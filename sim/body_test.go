package sim

import (
	"math/rand/v2"
	"testing"
)

func TestBodyRoundTripAndCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := map[int]bool{}
	for i := range 2000 {
		key := "sim:1:" + string(rune('a'+i%26)) + ":x"
		n := drawSize(rng, 1440)
		if n > 1440 || n < 1 {
			t.Fatalf("size %d", n)
		}
		sizes[n/500] = true
		b := makeBody(key, n)
		if len(b) != max(n, len(key)) {
			t.Fatalf("body of %d bytes, want %d", len(b), n)
		}
		k, ok := parseBody(b)
		if k != key || !ok {
			t.Fatalf("parse %q: %q %v", b, k, ok)
		}
		if len(b) > len(key)+1 {
			b[len(b)-1] ^= 1
			if _, ok := parseBody(b); ok {
				t.Fatal("a flipped byte went unnoticed")
			}
		}
	}
	if len(sizes) < 3 {
		t.Fatalf("sizes not mixed: %v", sizes)
	}
	if drawSize(rand.New(rand.NewPCG(0, 0)), 1440) > 1440 {
		t.Fatal("over the maximum")
	}
}

func TestCheckCatchesCorruptBody(t *testing.T) {
	h := cleanHistory()
	h.Devices[0].Delivered[1].Corrupt = true
	r := Check(h)
	if r.Corrupted != 1 || r.OK() {
		t.Fatalf("corrupted %d, OK %v", r.Corrupted, r.OK())
	}
}
