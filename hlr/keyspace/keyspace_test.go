package keyspace

import (
	"bytes"
	"testing"
)

func TestLayout(t *testing.T) {
	if got := LogKey(0x0102, 5); !bytes.Equal(got, []byte{'p', 1, 2, 'l', 0, 0, 0, 0, 0, 0, 0, 5}) {
		t.Fatalf("LogKey: %x", got)
	}
	if got := StableKey(7, []byte("CurrentTerm")); !bytes.Equal(got, append([]byte{'p', 0, 7, 's'}, "CurrentTerm"...)) {
		t.Fatalf("StableKey: %q", got)
	}
	if got := FSMKey(7, []byte{1}); !bytes.Equal(got, []byte{'p', 0, 7, 'f', 1}) {
		t.Fatalf("FSMKey: %q", got)
	}
	if got := NodeKey("id"); string(got) != "nid" {
		t.Fatalf("NodeKey: %q", got)
	}
}

func TestLogKeysSortByIndexAndStayInRange(t *testing.T) {
	lo, hi := Range(9, KindLog)
	idx := []uint64{0, 1, 255, 256, 1 << 32, 1<<64 - 1}
	for i, a := range idx {
		k := LogKey(9, a)
		if bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) >= 0 {
			t.Fatalf("log key %d outside its range", a)
		}
		if got, ok := LogIndex(k); !ok || got != a {
			t.Fatalf("LogIndex(LogKey(%d)) = %d, %v", a, got, ok)
		}
		if i > 0 && bytes.Compare(LogKey(9, idx[i-1]), k) >= 0 {
			t.Fatalf("log keys %d and %d out of order", idx[i-1], a)
		}
	}
	// Neighbouring partitions and kinds do not overlap.
	for _, k := range [][]byte{LogKey(8, 1<<64-1), LogKey(10, 0), StableKey(9, nil), FSMKey(9, nil)} {
		if bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0 {
			t.Fatalf("key %x inside partition 9's log range", k)
		}
	}
	if _, ok := LogIndex(StableKey(9, []byte("12345678"))); ok {
		t.Fatal("a stable key parsed as a log key")
	}
}
