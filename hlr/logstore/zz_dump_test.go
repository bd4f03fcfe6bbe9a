package logstore

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/hashicorp/raft"
)

func TestZZDump(t *testing.T) {
	dir := os.Getenv("ZZDIR")
	if dir == "" {
		t.Skip()
	}
	pid, _ := strconv.Atoi(os.Getenv("ZZPID"))
	from, _ := strconv.Atoi(os.Getenv("ZZFROM"))
	to, _ := strconv.Atoi(os.Getenv("ZZTO"))
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(db, uint16(pid), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i <= to; i++ {
		var l raft.Log
		if err := s.GetLog(uint64(i), &l); err != nil {
			fmt.Println(i, err)
			continue
		}
		d := l.Data
		if len(d) > 120 {
			d = d[:120]
		}
		fmt.Printf("%d term %d type %v at %v data %q\n", i, l.Term, l.Type, l.AppendedAt.Format("15:04:05.000"), d)
	}
}
