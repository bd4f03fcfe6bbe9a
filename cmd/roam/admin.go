package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// roam admin: operators' commands against nodes' management endpoints
// (roamd -http). They need no session and read no state file.
//
//	roam admin status --http ADDR[,ADDR...] [--json]
//
// status asks each address for /status and prints the members, the
// partitions and their leaders. With several addresses each partition is
// described by a node that hosts it, preferring its leader's own view:
// with more nodes than replicas no single node hosts every partition.

// statusDoc is what a node's /status answers (node.Status; OPERATIONS.md
// describes it). The CLI keeps its own copy of the schema so that it
// does not link the server.
type statusDoc struct {
	Node       string       `json:"node"`
	Cluster    string       `json:"cluster"`
	Partitions int          `json:"partition_count"`
	Replicas   int          `json:"replicas"`
	Client     string       `json:"client_addr"`
	Internal   string       `json:"internal_addr"`
	Gossip     string       `json:"gossip_addr"`
	Readiness  readinessDoc `json:"readiness"`
	Sessions   int          `json:"sessions"`
	Members    []memberDoc  `json:"members"`
	Parts      []partDoc    `json:"partitions"`
}

type readinessDoc struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

type memberDoc struct {
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Leaving  bool      `json:"leaving"`
	Since    time.Time `json:"since"`
	Client   string    `json:"client_addr"`
	Internal string    `json:"internal_addr"`
	Gossip   string    `json:"gossip_addr"`
	Sessions uint32    `json:"sessions"`
	Leaders  int       `json:"leaders"`
}

type partDoc struct {
	ID            uint16   `json:"id"`
	Hosted        bool     `json:"hosted"`
	Role          string   `json:"role,omitempty"`
	Leader        string   `json:"leader"`
	Source        string   `json:"leader_source"`
	Term          uint64   `json:"term,omitempty"`
	Commit        uint64   `json:"commit_index,omitempty"`
	Apply         uint64   `json:"applied_index,omitempty"`
	Last          uint64   `json:"last_log_index,omitempty"`
	Lag           uint64   `json:"lag"`
	LastContactMS int64    `json:"last_contact_ms"`
	Voters        []string `json:"voters,omitempty"`
	NonVoters     []string `json:"nonvoters,omitempty"`
	// From is the node whose view this is (filled in by the CLI).
	From string `json:"from,omitempty"`
}

// clusterView is what admin status prints with --json.
type clusterView struct {
	Asked      []string    `json:"asked"`  // the nodes that answered
	Failed     []string    `json:"failed"` // addresses that did not, with why
	Cluster    string      `json:"cluster"`
	Partitions int         `json:"partition_count"`
	Replicas   int         `json:"replicas"`
	Members    []memberDoc `json:"members"` // as the first node that answered sees them
	Parts      []partDoc   `json:"partitions"`
	Unled      int         `json:"partitions_without_leader"`
}

const adminUsage = "admin status --http ADDR[,ADDR...] [--json] | admin drain|undrain NODE [--token-file FILE]"

func cmdAdmin(a *app, argv []string) error {
	if len(argv) > 0 && (argv[0] == "drain" || argv[0] == "undrain") {
		return cmdAdminDrain(a, argv[0], argv[1:])
	}
	if len(argv) == 0 || argv[0] != "status" {
		return usagef("admin: want %s", adminUsage)
	}
	fs := flag.NewFlagSet("admin status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	httpFlag := fs.String("http", "", "")
	jsonFlag := fs.Bool("json", a.json, "")
	if err := fs.Parse(argv[1:]); err != nil || fs.NArg() > 0 {
		return usagef("admin: want %s", adminUsage)
	}
	addrs := splitList(*httpFlag)
	if len(addrs) == 0 {
		addrs = splitList(a.getenv("ROAM_HTTP"))
	}
	if len(addrs) == 0 {
		return usagef("admin status: give the nodes' management addresses with --http (roamd -http), or ROAM_HTTP")
	}
	v, err := gatherStatus(a.ctx, addrs, a.timeout)
	if err != nil {
		return err
	}
	if *jsonFlag {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	printStatus(a.stdout, v)
	return nil
}

// gatherStatus asks every address and merges the answers.
func gatherStatus(ctx context.Context, addrs []string, timeout time.Duration) (*clusterView, error) {
	v := &clusterView{}
	hc := &http.Client{Timeout: timeout}
	var docs []statusDoc
	for _, addr := range addrs {
		doc, err := fetchStatus(ctx, hc, addr)
		if err != nil {
			v.Failed = append(v.Failed, addr+": "+err.Error())
			continue
		}
		docs = append(docs, doc)
		v.Asked = append(v.Asked, doc.Node)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no management endpoint answered: %s", strings.Join(v.Failed, "; "))
	}
	first := docs[0]
	v.Cluster, v.Partitions, v.Replicas, v.Members = first.Cluster, first.Partitions, first.Replicas, first.Members
	best := map[uint16]partDoc{}
	for _, d := range docs {
		if d.Cluster != first.Cluster {
			return nil, fmt.Errorf("%s is in cluster %s, %s in %s: give nodes of one cluster", d.Node, d.Cluster, first.Node, first.Cluster)
		}
		for _, p := range d.Parts {
			p.From = d.Node
			if cur, ok := best[p.ID]; !ok || better(p, cur) {
				best[p.ID] = p
			}
		}
	}
	for _, p := range best {
		v.Parts = append(v.Parts, p)
		if p.Leader == "" {
			v.Unled++
		}
	}
	sort.Slice(v.Parts, func(i, j int) bool { return v.Parts[i].ID < v.Parts[j].ID })
	return v, nil
}

// better says whether view p of a partition is worth more than cur: a
// hosting node's over a hint, the leader's own over a follower's, then
// the higher term.
func better(p, cur partDoc) bool {
	switch {
	case p.Hosted != cur.Hosted:
		return p.Hosted
	case (p.Role == "Leader") != (cur.Role == "Leader"):
		return p.Role == "Leader"
	case (p.Leader != "") != (cur.Leader != ""):
		return p.Leader != ""
	}
	return p.Term > cur.Term
}

func fetchStatus(ctx context.Context, hc *http.Client, addr string) (statusDoc, error) {
	url := addr
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/status", nil)
	if err != nil {
		return statusDoc{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return statusDoc{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return statusDoc{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return statusDoc{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var doc statusDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return statusDoc{}, fmt.Errorf("not a roamd status: %w", err)
	}
	if doc.Node == "" {
		return statusDoc{}, errors.New("not a roamd status: no node id")
	}
	return doc, nil
}

// printStatus writes the view as two tables.
func printStatus(w io.Writer, v *clusterView) {
	fmt.Fprintf(w, "cluster %s: %d partitions, %d replicas; asked %s\n", v.Cluster, v.Partitions, v.Replicas, strings.Join(v.Asked, ", "))
	for _, f := range v.Failed {
		fmt.Fprintf(w, "no answer from %s\n", f)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tSTATE\tCLIENT\tINTERNAL\tSESSIONS\tLEADS")
	for _, m := range v.Members {
		state := m.State
		if m.Leaving && state == "alive" {
			state = "leaving"
		}
		leads := "-"
		if m.Leaders >= 0 {
			leads = fmt.Sprint(m.Leaders)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", m.ID, state, m.Client, m.Internal, m.Sessions, leads)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tTERM\tCOMMIT\tAPPLIED\tLAG\tVOTERS\tSEEN BY")
	for _, p := range v.Parts {
		leader := p.Leader
		if leader == "" {
			leader = "NONE"
		}
		voters := strings.Join(p.Voters, ",")
		if len(p.NonVoters) > 0 {
			voters += " +" + strings.Join(p.NonVoters, ",")
		}
		if !p.Hosted {
			fmt.Fprintf(tw, "%d\t%s\t-\t-\t-\t-\t-\t%s (%s)\n", p.ID, leader, p.From, p.Source)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", p.ID, leader, p.Term, p.Commit, p.Apply, p.Lag, voters, p.From)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d of %d partitions without a leader\n", v.Unled, len(v.Parts))
}

// cmdAdminDrain is roam admin drain|undrain NODE: NODE is the node's
// management address (roamd -http); the admin token (roamd
// -admin-token-file) comes from --token-file or ROAM_ADMIN_TOKEN.
func cmdAdminDrain(a *app, op string, argv []string) error {
	fs := flag.NewFlagSet("admin "+op, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tokenFile := fs.String("token-file", "", "")
	// The node first or last: flag parsing stops at the first non-flag.
	var node string
	if len(argv) > 0 && !strings.HasPrefix(argv[0], "-") {
		node, argv = argv[0], argv[1:]
	}
	if err := fs.Parse(argv); err != nil {
		return usagef("admin: want %s", adminUsage)
	}
	if node == "" && fs.NArg() == 1 {
		node = fs.Arg(0)
	} else if fs.NArg() > 0 || node == "" {
		return usagef("admin: want %s", adminUsage)
	}
	token := a.getenv("ROAM_ADMIN_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("admin %s: %w", op, err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return usagef("admin %s: give the admin token with --token-file FILE or ROAM_ADMIN_TOKEN", op)
	}
	ctx, cancel := context.WithTimeout(a.ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+node+"/admin/"+op, nil)
	if err != nil {
		return fmt.Errorf("admin %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s %s: %w", op, node, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin %s %s: %s: %s", op, node, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(a.stdout, "%s: %sed\n", node, op)
	return nil
}
