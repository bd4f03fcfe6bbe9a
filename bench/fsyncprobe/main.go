// Command fsyncprobe prints this machine's fsync latency percentiles (see
// package bench/disk).
//
//	go run ./bench/fsyncprobe -dir /path/on/the/data/disk -duration 20s
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/roamhq/roam/bench/disk"
)

func main() {
	dir := flag.String("dir", ".", "directory on the disk to probe")
	dur := flag.Duration("duration", 20*time.Second, "how long to probe")
	flag.Parse()
	if *dur <= 0 {
		fmt.Fprintln(os.Stderr, "fsyncprobe: -duration must be positive")
		os.Exit(2)
	}
	st, err := disk.ProbeFsync(*dir, *dur)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsyncprobe:", err)
		os.Exit(1)
	}
	fmt.Printf("fsync over %v: %v\n", *dur, st)
}
