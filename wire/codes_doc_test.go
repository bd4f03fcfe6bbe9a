package wire

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCodesDocumented keeps PROTOCOL.md in step with the code table: every
// Code must appear on one line together with its number and its Name(), as
// in a table row "| 209 | rate_limited | ... |". It is skipped until
// PROTOCOL.md exists.
func TestCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../PROTOCOL.md")
	if os.IsNotExist(err) {
		t.Skip("PROTOCOL.md does not exist yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range undocumentedCodes(string(doc)) {
		t.Errorf("PROTOCOL.md has no line with code %d and its name %q", c, c.Name())
	}
}

// undocumentedCodes returns the codes that no line of doc names by number
// and Name() together.
func undocumentedCodes(doc string) []Code {
	lines := strings.Split(doc, "\n")
	var missing []Code
	for _, c := range Codes() {
		num := regexp.MustCompile(`(^|[^0-9])` + strconv.Itoa(int(c)) + `([^0-9]|$)`)
		name := regexp.MustCompile(`(^|[^a-z0-9_])` + regexp.QuoteMeta(c.Name()) + `([^a-z0-9_]|$)`)
		found := false
		for _, l := range lines {
			if num.MatchString(l) && name.MatchString(l) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, c)
		}
	}
	return missing
}

// TestUndocumentedCodes shows the check above can fail.
func TestUndocumentedCodes(t *testing.T) {
	var rows []string
	for _, c := range Codes() {
		rows = append(rows, "| "+strconv.Itoa(int(c))+" | `"+c.Name()+"` | "+c.Text()+" |")
	}
	full := strings.Join(rows, "\n")
	if m := undocumentedCodes(full); len(m) != 0 {
		t.Fatalf("complete table: missing %v", m)
	}
	// Drop rate_limited, and put a wrong number on refused.
	doc := strings.Replace(full, "| 209 | `rate_limited`", "", 1)
	doc = strings.Replace(doc, "| 210 | `refused`", "| 2100 | `refused`", 1)
	m := undocumentedCodes(doc)
	if len(m) != 2 || m[0] != CodeRateLimited || m[1] != CodeRefused {
		t.Fatalf("missing = %v, want [rate_limited refused]", m)
	}
}
