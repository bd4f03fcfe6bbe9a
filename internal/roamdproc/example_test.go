package roamdproc_test

import (
	"fmt"

	"github.com/roamhq/roam/internal/roamdproc"
)

func ExampleParseReady() {
	line := "roamd: node n1 ready; clients connect to 127.0.0.1:7400; other nodes join 127.0.0.1:7402"
	r, ok := roamdproc.ParseReady(line)
	fmt.Println(ok, r.Node, r.Client, r.Join)
	fmt.Println(r.String() == line)
	// Output:
	// true n1 127.0.0.1:7400 127.0.0.1:7402
	// true
}

func ExampleLineWriter() {
	w := &roamdproc.LineWriter{Prefix: "n1: ", Out: func(line string) { fmt.Println(line) }}
	fmt.Fprint(w, "first line\nsecond ")
	fmt.Fprint(w, "line\nno newline yet")
	w.Flush()
	// Output:
	// n1: first line
	// n1: second line
	// n1: no newline yet
}
