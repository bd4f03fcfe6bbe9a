package sim

import (
	"bytes"
	"hash/fnv"
	"math/rand/v2"
)

// Message bodies. A body is the message's key (unique per send, the
// history's Send.Body), a '|' and filler derived from the key, up to the
// size drawn for it. The history stores only keys, so a 10-minute run at
// 1,000 sends/s of bodies up to 1,440 bytes does not hold gigabytes; the
// filler lets the reader check that the bytes arrived as sent.

// makeBody returns the wire bytes of key padded to size (at least the key).
func makeBody(key string, size int) []byte {
	b := make([]byte, 0, max(size, len(key)))
	b = append(b, key...)
	if size <= len(key) {
		return b
	}
	b = append(b, '|')
	return appendFiller(b, key, size-len(b))
}

// appendFiller appends n bytes of filler for key: letters from a
// generator seeded with the key's hash.
func appendFiller(b []byte, key string, n int) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	x := h.Sum64() | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, 'a'+byte(x%26))
	}
	return b
}

// parseBody splits a received body into its key and whether the filler is
// the one makeBody wrote.
func parseBody(b []byte) (key string, ok bool) {
	i := bytes.IndexByte(b, '|')
	if i < 0 {
		return string(b), true
	}
	key = string(b[:i])
	want := appendFiller(make([]byte, 0, len(b)-i-1), key, len(b)-i-1)
	return key, bytes.Equal(want, b[i+1:])
}

// drawSize picks a body size up to maxBody: most messages short, some
// medium, some near or at the maximum.
func drawSize(rng *rand.Rand, maxBody int) int {
	switch p := rng.IntN(100); {
	case p < 55:
		return 24 + rng.IntN(80)
	case p < 85:
		return 100 + rng.IntN(700)
	case p < 95:
		return 800 + rng.IntN(max(maxBody-800, 1))
	}
	return maxBody
}
