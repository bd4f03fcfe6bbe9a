// Command fsyncprobe measures this machine's fsync latency: it appends 4 KiB
// to a file and syncs it, every 2 ms for the given duration, and prints the
// percentiles. Every durable roam write waits for at least one fsync, so a
// stall here shows up as a latency spike in the benchmarks.
//
//	go run ./bench/fsyncprobe -dir /path/on/the/data/disk -duration 20s
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

func main() {
	dir := flag.String("dir", ".", "directory on the disk to probe")
	dur := flag.Duration("duration", 20*time.Second, "how long to probe")
	flag.Parse()
	if *dur <= 0 {
		fmt.Fprintln(os.Stderr, "fsyncprobe: -duration must be positive")
		os.Exit(2)
	}
	f, err := os.CreateTemp(*dir, "fsyncprobe-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsyncprobe:", err)
		os.Exit(1)
	}
	defer os.Remove(filepath.Clean(f.Name()))
	defer f.Close()
	buf := make([]byte, 4096)
	var ds []time.Duration
	end := time.Now().Add(*dur)
	for time.Now().Before(end) {
		if _, err := f.Write(buf); err != nil {
			fmt.Fprintln(os.Stderr, "fsyncprobe:", err)
			os.Exit(1)
		}
		t := time.Now()
		if err := f.Sync(); err != nil {
			fmt.Fprintln(os.Stderr, "fsyncprobe:", err)
			os.Exit(1)
		}
		ds = append(ds, time.Since(t))
		time.Sleep(2 * time.Millisecond)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))] }
	fmt.Printf("fsync of 4 KiB, %d samples over %v: p50 %v  p99 %v  p99.9 %v  max %v\n",
		len(ds), *dur, q(0.50).Round(time.Microsecond), q(0.99).Round(time.Microsecond), q(0.999).Round(time.Microsecond), ds[len(ds)-1].Round(time.Microsecond))
}
