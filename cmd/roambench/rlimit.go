package main

import "syscall"

// raiseFileLimit lifts this process's open-file limit as far as it may:
// 50k idle sessions need about 50k descriptors in the load generator and,
// on a 1-node cluster, in roamd, which inherits the limit. Root may raise
// the hard limit too; anyone may raise the soft limit to the hard one.
// It returns the limit in force.
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
