package roamdproc

import (
	"fmt"
	"regexp"
)

// Ready is what roamd's ready line says: it prints the line on stdout
// once every partition it opened has a leader.
type Ready struct {
	Node   string // the node id
	Client string // where clients connect
	Join   string // the gossip address other nodes pass to -join
}

// String is the ready line roamd prints, without its newline.
func (r Ready) String() string {
	return fmt.Sprintf("roamd: node %s ready; clients connect to %s; other nodes join %s", r.Node, r.Client, r.Join)
}

// readyRE matches a ready line anywhere in a line (a caller may put a
// prefix in front). The join part is optional, as older roamd did not
// print it.
var readyRE = regexp.MustCompile(`roamd: node (\S+) ready; clients connect to ([^;\s]+)(?:; other nodes join (\S+))?`)

// ParseReady reads a ready line; ok is false for any other line.
func ParseReady(line string) (r Ready, ok bool) {
	m := readyRE.FindStringSubmatch(line)
	if m == nil {
		return Ready{}, false
	}
	return Ready{Node: m[1], Client: m[2], Join: m[3]}, true
}
