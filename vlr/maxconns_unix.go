//go:build unix

package vlr

import "syscall"

// openFileLimit returns the soft RLIMIT_NOFILE, or 0 if unknown.
func openFileLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<40 {
		return 0
	}
	return int(l.Cur)
}
