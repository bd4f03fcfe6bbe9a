//go:build !linux

package main

import "os"

// noEcho is not implemented here: the password is echoed.
func noEcho(*os.File) (restore func(), ok bool) { return func() {}, false }
