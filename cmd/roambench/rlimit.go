package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseFileLimit lifts this process's open-file limit as far as it may:
// idle sessions need one descriptor each in the load generator and in
// roamd, which inherits the limit. Root may raise the hard limit too (with
// CAP_SYS_RESOURCE); anyone may raise the soft limit to the hard one. It
// returns the limit in force.
func raiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	want := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if l.Max > want.Max {
		want.Max = l.Max
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// fileLimits returns the soft and hard open-file limits of pid, from
// /proc/PID/limits.
func fileLimits(pid int) (soft, hard uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "Max open files") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(l, "Max open files"))
		if len(f) < 2 {
			break
		}
		if soft, err = strconv.ParseUint(f[0], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("open-file limit of %d: %q", pid, l)
		}
		if hard, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("open-file limit of %d: %q", pid, l)
		}
		return soft, hard, nil
	}
	return 0, 0, fmt.Errorf("no open-file limit in /proc/%d/limits", pid)
}

// openFDs returns how many descriptors pid has open.
func openFDs(pid int) int {
	d, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(d)
}
