package node

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Regenerate the expected outputs with: go test ./node -run TestPlan -rewrite
// and read the diff: every line that changes is a change of the rules.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs in testdata/plan.txt")

// TestPlan runs the cases of testdata/plan.txt through plan. A case is
//
//	# comments
//	plan|rounds TITLE
//	self ID [follower]      this node (default n1, the leader)
//	last N                  the leader's last log index (default 1000)
//	ID TOKEN...             one line per node, in configuration and
//	                        placement order; TOKENs:
//	  voter@ADDR | nonvoter@ADDR   in the configuration
//	  placed | placed@ADDR | placed@-   placed (at its configuration
//	                        address, at ADDR, at no known address)
//	  alive | suspect | dead | gone   gossip's view (default alive)
//	  leaving               announced a graceful leave
//	  match=N               reported last index N (default: unknown)
//	----
//	expected output, up to a blank line
//
// plan prints the one change plan picks. rounds carries out each change
// on the inputs and plans again, until the partition settles or waits
// (at most 12 rounds), one line a round: a node added as a non-voter
// catches up (match = last) by the next round if it is alive, and a
// transfer makes the first placed live voter the leader.
func TestPlan(t *testing.T) {
	path := filepath.Join("testdata", "plan.txt")
	cases, err := readPlanCases(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	titles := map[string]bool{}
	for _, c := range cases {
		if titles[c.title] {
			t.Fatalf("line %d: two cases titled %q", c.line, c.title)
		}
		titles[c.title] = true
		got, err := c.run()
		if err != nil {
			t.Fatalf("%s:%d: %v", path, c.line, err)
		}
		if *rewrite {
			c.want = got
			continue
		}
		if got != c.want {
			t.Errorf("%s:%d: %s %s\ngot:\n%s\nwant:\n%s", path, c.line, c.cmd, c.title, got, c.want)
		}
	}
	if *rewrite {
		if err := writePlanCases(path, cases); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPlan_Deterministic: the same inputs give the same change, and plan
// does not change its inputs.
func TestPlan_Deterministic(t *testing.T) {
	cases, err := readPlanCases(filepath.Join("testdata", "plan.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		in, err := c.parse()
		if err != nil {
			t.Fatal(err)
		}
		conf, placed := slices.Clone(in.conf), slices.Clone(in.placed)
		first := plan(in.conf, in.placed, in.st)
		for range 3 {
			if again := plan(in.conf, in.placed, in.st); again != first {
				t.Fatalf("%s: %v, then %v", c.title, first, again)
			}
		}
		if !slices.Equal(conf, in.conf) || !slices.Equal(placed, in.placed) {
			t.Fatalf("%s: plan changed its inputs", c.title)
		}
	}
}

type planCase struct {
	line       int
	comments   []string // the lines before the command
	cmd, title string
	input      []string
	want       string
}

type planInput struct {
	conf   []confServer
	placed []placedReplica
	st     planStatus
}

func readPlanCases(path string) ([]*planCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		out      []*planCase
		cur      *planCase
		comments []string
		inWant   bool
		want     []string
	)
	sc := bufio.NewScanner(f)
	ln := 0
	end := func() {
		if cur != nil {
			cur.want = strings.Join(want, "\n")
			out = append(out, cur)
		}
		cur, inWant, want = nil, false, nil
	}
	for sc.Scan() {
		ln++
		line := strings.TrimRight(sc.Text(), " \t")
		switch {
		case cur == nil && (line == "" || strings.HasPrefix(line, "#")):
			comments = append(comments, line)
		case cur == nil:
			cmd, title, _ := strings.Cut(line, " ")
			if cmd != "plan" && cmd != "rounds" {
				return nil, fmt.Errorf("%s:%d: %q: want plan or rounds", path, ln, cmd)
			}
			cur = &planCase{line: ln, comments: comments, cmd: cmd, title: title}
			comments = nil
		case inWant && line == "":
			end()
			comments = append(comments, "")
		case inWant:
			want = append(want, line)
		case line == "----":
			inWant = true
		case line == "" || strings.HasPrefix(line, "#"):
			return nil, fmt.Errorf("%s:%d: blank line or comment before ----", path, ln)
		default:
			cur.input = append(cur.input, line)
		}
	}
	if cur != nil && !inWant {
		return nil, fmt.Errorf("%s:%d: case without ----", path, cur.line)
	}
	end()
	return out, sc.Err()
}

func writePlanCases(path string, cases []*planCase) error {
	var b strings.Builder
	for _, c := range cases {
		for _, l := range c.comments {
			b.WriteString(l + "\n")
		}
		fmt.Fprintf(&b, "%s %s\n", c.cmd, c.title)
		for _, l := range c.input {
			b.WriteString(l + "\n")
		}
		b.WriteString("----\n" + c.want + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func (c *planCase) parse() (planInput, error) {
	in := planInput{st: planStatus{Self: "n1", Leader: true, LastIndex: 1000, Servers: map[string]serverStatus{}}}
	for _, line := range c.input {
		f := strings.Fields(line)
		switch f[0] {
		case "self":
			if len(f) < 2 || len(f) > 3 || (len(f) == 3 && f[2] != "follower") {
				return in, fmt.Errorf("%q: want self ID [follower]", line)
			}
			in.st.Self, in.st.Leader = f[1], len(f) == 2
			continue
		case "last":
			n, err := strconv.ParseUint(f[len(f)-1], 10, 64)
			if len(f) != 2 || err != nil {
				return in, fmt.Errorf("%q: want last N", line)
			}
			in.st.LastIndex = n
			continue
		}
		id := f[0]
		ss := serverStatus{Live: livenessAlive}
		var confAddr, placedAddr string
		inConf, voter, placed := false, false, false
		for _, tok := range f[1:] {
			key, val, _ := strings.Cut(tok, "@")
			switch {
			case key == "voter" || key == "nonvoter":
				inConf, voter, confAddr = true, key == "voter", val
			case key == "placed":
				placed, placedAddr = true, val
			case tok == "alive":
				ss.Live = livenessAlive
			case tok == "suspect":
				ss.Live = livenessSuspect
			case tok == "dead":
				ss.Live = livenessDead
			case tok == "gone":
				ss.Live = livenessGone
			case tok == "leaving":
				ss.Leaving = true
			case strings.HasPrefix(tok, "match="):
				n, err := strconv.ParseUint(strings.TrimPrefix(tok, "match="), 10, 64)
				if err != nil {
					return in, fmt.Errorf("%q: %v", tok, err)
				}
				ss.Known, ss.Match = true, n
			default:
				return in, fmt.Errorf("%q: unknown token %q", line, tok)
			}
		}
		if _, dup := in.st.Servers[id]; dup {
			return in, fmt.Errorf("%q: %s twice", line, id)
		}
		if inConf && confAddr == "" {
			return in, fmt.Errorf("%q: a configured server needs an address", line)
		}
		switch {
		case placed && placedAddr == "-":
			placedAddr = ""
		case placed && placedAddr == "" && !inConf:
			return in, fmt.Errorf("%q: placed@ADDR or placed@- for a node not in the configuration", line)
		case placed && placedAddr == "":
			placedAddr = confAddr
		}
		in.st.Servers[id] = ss
		if inConf {
			in.conf = append(in.conf, confServer{ID: id, Addr: confAddr, Voter: voter})
		}
		if placed {
			in.placed = append(in.placed, placedReplica{ID: id, Addr: placedAddr})
		}
	}
	return in, nil
}

func (c *planCase) run() (string, error) {
	in, err := c.parse()
	if err != nil {
		return "", err
	}
	if c.cmd == "plan" {
		return plan(in.conf, in.placed, in.st).String(), nil
	}
	var lines []string
	for range 12 {
		ch := plan(in.conf, in.placed, in.st)
		line := ch.String()
		if ch.Kind == changeNone || ch.Kind == changeWait {
			return strings.Join(append(lines, line), "\n"), nil
		}
		line += in.apply(ch)
		lines = append(lines, line)
	}
	return strings.Join(append(lines, "(no end after 12 rounds)"), "\n"), nil
}

// apply carries out ch as raft and the cluster would, and returns what
// it adds to the round's line.
func (in *planInput) apply(ch change) string {
	i := slices.IndexFunc(in.conf, func(s confServer) bool { return s.ID == ch.ID })
	switch ch.Kind {
	case changeAddNonvoter:
		in.conf = append(in.conf, confServer{ID: ch.ID, Addr: ch.Addr})
		if ss := in.st.Servers[ch.ID]; ss.Live == livenessAlive {
			ss.Known, ss.Match = true, in.st.LastIndex
			in.st.Servers[ch.ID] = ss
		}
	case changePromote:
		in.conf[i].Voter = true
	case changeReaddress:
		in.conf[i].Addr = ch.Addr
	case changeRemove:
		in.conf = slices.Delete(in.conf, i, i+1)
	case changeTransferThenRemove:
		for _, p := range in.placed {
			j := slices.IndexFunc(in.conf, func(s confServer) bool { return s.ID == p.ID })
			if p.ID != in.st.Self && j >= 0 && in.conf[j].Voter && in.st.Servers[p.ID].Live == livenessAlive {
				in.st.Self = p.ID
				return " (" + p.ID + " leads)"
			}
		}
		in.st.Leader = false
		return " (no placed live voter to take over)"
	}
	return ""
}
