//go:build !unix

package vlr

// openFileLimit is unknown off Unix.
func openFileLimit() int { return 0 }
