//go:build !linux

package main

import "os"

// isTerminal reports whether f is a character device (a terminal, most
// likely; /dev/null too, where a bar costs nothing).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
