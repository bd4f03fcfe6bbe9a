// Package disk measures the fsync latency of the disk under a directory.
// Every durable roam write waits for at least one fsync, so a stall there
// shows up as a latency spike in the benchmarks.
package disk

import (
	"fmt"
	"os"
	"sort"
	"time"
)

// FsyncStats are the percentiles of one probe.
type FsyncStats struct {
	Samples int     `json:"samples"`
	P50us   float64 `json:"p50_us"`
	P99us   float64 `json:"p99_us"`
	P999us  float64 `json:"p999_us"`
	MaxUs   float64 `json:"max_us"`
}

func (s FsyncStats) String() string {
	ms := func(us float64) string { return fmt.Sprintf("%.2f ms", us/1000) }
	return fmt.Sprintf("%d fsyncs of 4 KiB: p50 %s, p99 %s, p99.9 %s, max %s", s.Samples, ms(s.P50us), ms(s.P99us), ms(s.P999us), ms(s.MaxUs))
}

// ProbeFsync appends 4 KiB to a temporary file in dir and syncs it, every
// 2 ms for dur.
func ProbeFsync(dir string, dur time.Duration) (FsyncStats, error) {
	f, err := os.CreateTemp(dir, "fsyncprobe-*")
	if err != nil {
		return FsyncStats{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var ds []time.Duration
	for end := time.Now().Add(dur); time.Now().Before(end); {
		if _, err := f.Write(buf); err != nil {
			return FsyncStats{}, err
		}
		t := time.Now()
		if err := f.Sync(); err != nil {
			return FsyncStats{}, err
		}
		ds = append(ds, time.Since(t))
		time.Sleep(2 * time.Millisecond)
	}
	if len(ds) == 0 {
		return FsyncStats{}, fmt.Errorf("disk: no fsync in %v", dur)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Nanoseconds()) / 1000 }
	return FsyncStats{Samples: len(ds), P50us: q(0.5), P99us: q(0.99), P999us: q(0.999), MaxUs: q(1)}, nil
}
