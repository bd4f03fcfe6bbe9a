package backup

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roamhq/roam/hlr"
)

func TestProtocol_RoundTripAndBounds(t *testing.T) {
	var buf bytes.Buffer
	in := Reply{Err: ErrNotLeader, Leader: "10.0.0.2:7401", Partitions: 64, Meta: hlr.BackupMeta{Partition: 3, Index: 9, Term: 2, Size: 100}}
	if err := Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	var out Reply
	if err := Read(&buf, &out); err != nil {
		t.Fatal(err)
	}
	if out.Err != in.Err || out.Leader != in.Leader || out.Meta != in.Meta || out.Partitions != 64 {
		t.Fatalf("got %+v", out)
	}
	// A length above the bound is refused before anything is allocated.
	huge := binary.BigEndian.AppendUint32(nil, MaxMessage+1)
	if err := Read(bytes.NewReader(huge), &out); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("oversized message: %v", err)
	}
}

func TestReadManifest_RefusesIncompleteOrMisnamed(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadManifest(dir); err == nil {
		t.Fatal("no manifest accepted")
	}
	for _, body := range []string{
		`{"version": 2, "partitions": 1, "parts": [{"partition": 0, "file": "p0000.snap"}]}`,
		`{"version": 1, "partitions": 2, "parts": [{"partition": 0, "file": "p0000.snap"}]}`,
		`{"version": 1, "partitions": 1, "parts": [{"partition": 0, "file": "../etc/passwd"}]}`,
		`not json`,
	} {
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadManifest(dir); err == nil {
			t.Fatalf("manifest %s accepted", body)
		}
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	Write(&buf, Reply{Err: ErrNoLeader, Members: []string{"a:1"}})
	f.Add(buf.Bytes())
	buf.Reset()
	Write(&buf, Request{Partitions: 8, Meta: hlr.BackupMeta{Partition: 1, Size: 5}})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		var rep Reply
		Read(bytes.NewReader(data), &rep)
		var req Request
		Read(bytes.NewReader(data), &req)
	})
}
