package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/client"
)

// Partitions is the partition count of spawned clusters.
const Partitions = 16

// Config configures a run.
type Config struct {
	Mode     string   // spawn or target
	Addrs    []string // target mode: client addresses
	Nodes    int      // spawn mode: initial node count
	Roamd    string   // spawn mode: roamd binary ("" = build one)
	KeepDir  bool     // spawn mode: keep the temp dir (logs, data)
	Seed     uint64
	Users    int
	Devices  int // devices per user
	Friends  int // friend requests each user makes
	Rate     float64
	Duration time.Duration
	Quiet    time.Duration // how long the end phase may wait for devices to catch up
	Churn    float64       // device offline/online actions per second
	Faults   []string
	// DisconnectEvery is the mean spacing of client disconnect faults.
	DisconnectEvery time.Duration
	// The account workload (checked for linearizability): AccountUsers
	// accounts, each driven by AccountWorkers concurrent clients that
	// pause about AccountInterval between operations. 0 users: none.
	AccountUsers    int
	AccountWorkers  int
	AccountInterval time.Duration

	// Load (drive.go, body.go): bodies of up to MaxBody bytes, mixed
	// sizes; DevicesMax devices (instead of Devices) for a
	// ManyDevicesShare of the users; a QuietShare of the users receive
	// with QuietFactor of the others' probability. SendRate is the
	// spawned cluster's per-user send limit (roamd send_rate).
	MaxBody          int
	DevicesMax       int
	ManyDevicesShare float64
	QuietShare       float64
	QuietFactor      float64
	SendRate         float64
	// Backlogs (backlog.go): BacklogUsers times a user stays offline
	// until Backlog messages wait for it, receiving BacklogShare of the
	// sends meanwhile, then syncs on other nodes.
	BacklogUsers int
	Backlog      int
	BacklogShare float64
	// Revocations (ghost.go): Ghosts devices of the cut-off side log in
	// elsewhere during each partition; a password change every
	// PasswordEvery, an account deletion every DeleteEvery (0: none);
	// revoked clients live on for GhostLife.
	Ghosts        int
	PasswordEvery time.Duration
	DeleteEvery   time.Duration
	GhostLife     time.Duration
	// Groups (groups.go): Groups groups of about GroupMembers users
	// each (0: none), receiving a GroupShare of the sends; a membership
	// change (join, leave or kick) every MemberEvery on average.
	Groups       int
	GroupMembers int
	GroupShare   float64
	MemberEvery  time.Duration
	// Scheduled messages (schedule.go): one every SchedEvery on average
	// (0: none), SchedMinAhead plus half a second to SchedMaxAhead ahead;
	// a spawned cluster takes SchedMinAhead as its schedule_min_ahead (at
	// least 1 s). SchedSlack is the clock slack CheckSchedules allows
	// between the simulator and the nodes. SchedGroupShare of them go to
	// a group (when there are groups).
	SchedEvery      time.Duration
	SchedGroupShare float64
	SchedMinAhead   time.Duration
	SchedMaxAhead   time.Duration
	SchedSlack      time.Duration
	// The bounds the checkers hold the history to (delivery.go,
	// revoke.go). PauseWaitLimit, if set, fails a run whose worst send
	// wait during a pause exceeds it (0: reported only).
	DeliveryBound   time.Duration
	RevocationBound time.Duration
	PauseWaitLimit  time.Duration

	Progress io.Writer // live progress lines (stderr), one a second
	Log      io.Writer // fault log lines
	// OnTick, if set, is called once a second with the progress the
	// Progress line shows (cmd/roamsim draws its progress bar from it).
	OnTick func(Tick)
}

// Tick is the progress of a run at one moment (Config.OnTick).
type Tick struct {
	Elapsed time.Duration // since the run proper began (after setup)
	Phase   string        // run, heal, quiet, presence, final-read
	SendsPS int64         // sends started in the last second
	Sent    int64         // sends started so far
	Acked   int64         // sends acknowledged so far
	Faults  int           // faults injected so far
}

// DefaultConfig returns the settings of `make sim` minus the faults (see
// the Makefile): a modest load that fits in its time budget.
func DefaultConfig() Config {
	return Config{
		Mode: "spawn", Nodes: 3, Seed: 1, Users: 32, Devices: 2, Friends: 3, Rate: 200,
		Duration: 95 * time.Second, Quiet: 20 * time.Second, Churn: 1, DisconnectEvery: 5 * time.Second,
		AccountUsers: 3, AccountWorkers: 3, AccountInterval: 500 * time.Millisecond,
		MaxBody: 1440, DevicesMax: 6, ManyDevicesShare: 0.25, QuietShare: 0.25, QuietFactor: 0.02, SendRate: 1000,
		BacklogUsers: 1, Backlog: 1500, BacklogShare: 0.5,
		Ghosts: 2, PasswordEvery: 20 * time.Second, DeleteEvery: 30 * time.Second, GhostLife: 15 * time.Second,
		Groups: 6, GroupMembers: 8, GroupShare: 0.05, MemberEvery: time.Second,
		SchedEvery: 200 * time.Millisecond, SchedGroupShare: 0.2, SchedMinAhead: time.Second, SchedMaxAhead: 4 * time.Second, SchedSlack: 50 * time.Millisecond,
		DeliveryBound: DefaultDeliveryBound, RevocationBound: DefaultRevocationBound,
	}
}

// FaultEvent is a fault as it happened.
type FaultEvent struct {
	At     time.Duration `json:"-"`
	AtS    float64       `json:"at_s"`
	Kind   string        `json:"kind"`
	Target string        `json:"target"`
	Detail string        `json:"detail,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Result
	Seed      uint64         `json:"seed"`
	Mode      string         `json:"mode"`
	DurationS float64        `json:"duration_s"`
	RunStartS float64        `json:"run_start_s"` // fault times count from setup; the run proper starts here
	SendsPerS float64        `json:"sends_per_s"`
	AckedPerS float64        `json:"acked_per_s"`
	P50ms     float64        `json:"p50_ms"`
	P90ms     float64        `json:"p90_ms"`
	P99ms     float64        `json:"p99_ms"`
	Maxms     float64        `json:"max_ms"`
	Faults    []FaultEvent   `json:"faults"`
	Impacts   []FaultImpact  `json:"fault_impacts"`
	Accounts  AccountResult  `json:"accounts"`
	Presence  PresenceResult `json:"presence"`
	// AccountsHTML is porcupine's view of a failed account check.
	AccountsHTML string         `json:"accounts_html,omitempty"`
	Incomplete   []string       `json:"incomplete_devices,omitempty"` // devices that could not be checked for completeness
	Series       []Second       `json:"series"`
	Dir          string         `json:"dir,omitempty"`
	Errors       map[string]int `json:"send_errors,omitempty"`

	// The load as it was.
	Users       int     `json:"users"`
	DevicesN    int     `json:"devices"`
	MaxDevices  int     `json:"max_devices_per_user"`
	QuietUsers  int     `json:"quiet_users"`
	MeanBody    float64 `json:"mean_body_bytes"`
	MaxBodySeen int     `json:"max_body_bytes"`
	// The newer checkers and measures.
	Delivery    DeliveryResult   `json:"bounded_delivery"`
	Revocation  RevocationResult `json:"revocation"`
	Groups      GroupResult      `json:"groups"`
	Schedules   SchedResult      `json:"schedules"`
	SessionEnds SessionEndResult `json:"session_ends"`
	Backlogs    []BacklogSync    `json:"backlogs,omitempty"`
	Leaders     *LeaderBalance   `json:"leaders,omitempty"`
	// PauseWorstMs is the worst wait of a send begun while a node was
	// frozen (FaultImpact.FrozenMaxWaitMs; target 4 s); PauseWaitLimitMs
	// the limit the run was held to (0: none).
	PauseWorstMs float64 `json:"pause_worst_wait_ms"`
	// PauseWindowWorstMs is the worst send wait of the pause windows,
	// sends begun after the node woke included.
	PauseWindowWorstMs float64 `json:"pause_window_worst_wait_ms"`
	PauseWaitLimitMs   float64 `json:"pause_wait_limit_ms,omitempty"`
}

// Second is one second of the run, for the chart.
type Second struct {
	T     int     `json:"t"`
	Sends int     `json:"sends"`
	Acked int     `json:"acked"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

type recorder struct {
	start   time.Time
	mu      sync.Mutex
	sends   []Send
	devices []Device
	errs    map[string]int
	acks    []time.Duration // ack times, for the series
	lat     []time.Duration // matching latencies
	starts  []time.Duration
	maxSeq  map[string]uint64 // user -> highest acked seq
	// accounts is the account workload's history.
	accounts []AccountOp
	// sessions, cutoffs, backlogs: see History and backlog.go.
	sessions []Session
	nsess    int
	cutoffs  []Cutoff
	backlogs []BacklogSync
	// The groups (groups.go): sends, the highest acked seq per group,
	// membership changes.
	gsends    []GroupSend
	gmaxSeq   map[string]uint64
	memberOps []MemberOp
	// The scheduled messages (schedule.go).
	scheds []SchedIntent
}

func (r *recorder) now() time.Duration { return time.Since(r.start) }

// at is when t was, on the run's clock: the client stamps each event with
// when it took the frame from the connection (client.Event.At), which is
// what the checkers judge the server by, not when the simulator's reader
// got to it (a revoked session's reader is parked for seconds: ghost.go).
func (r *recorder) at(t time.Time) time.Duration {
	if t.IsZero() {
		return r.now()
	}
	return t.Sub(r.start)
}

type runner struct {
	cfg     Config
	rec     *recorder
	cl      *Cluster
	addrs   func() []string
	users   []*user
	devs    []*device
	faults  []FaultEvent
	fmu     sync.Mutex
	sendsWG sync.WaitGroup
	sem     chan struct{}
	phase   atomic.Value
	nacked  atomic.Int64
	nsent   atomic.Int64
	nghost  atomic.Int64
	ctx     context.Context
	// tasks are the workload's background goroutines (devices going
	// away and back, ghosts, re-logins).
	tasks       group
	byName      map[string]*user
	backlogUser backlogTarget
	grp         *groupLoad // nil: no groups
	// scheds are the scheduled messages' goroutines (schedule.go).
	scheds sync.WaitGroup
}

func (r *runner) logf(format string, a ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, "[%6.1fs] "+format+"\n", append([]any{r.rec.now().Seconds()}, a...)...)
	}
}

func (r *runner) fault(kind, target, detail string) {
	at := r.rec.now()
	r.fmu.Lock()
	r.faults = append(r.faults, FaultEvent{At: at, AtS: float64(at.Milliseconds()) / 1000, Kind: kind, Target: target, Detail: detail})
	r.fmu.Unlock()
	r.logf("fault %s %s %s", kind, target, detail)
}

func (r *runner) clientConfig(dev string, first string) client.Config {
	addrs := r.addrs()
	ordered := []string{first}
	for _, a := range addrs {
		if a != first {
			ordered = append(ordered, a)
		}
	}
	c := client.DefaultConfig(ordered...)
	c.Device = dev
	c.DialTimeout = 2 * time.Second
	c.RequestTimeout = 3 * time.Second
	c.MaxSendAttempts = 8
	c.RetryBackoff = 100 * time.Millisecond
	c.MaxBackoff = time.Second
	return c
}

// Run runs the whole simulation and returns its report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	r := &runner{cfg: cfg, rec: &recorder{errs: map[string]int{}, maxSeq: map[string]uint64{}, gmaxSeq: map[string]uint64{}}, sem: make(chan struct{}, 2048), ctx: ctx, byName: map[string]*user{}}
	r.phase.Store("setup")
	r.rec.start = time.Now()
	rep := &Report{Seed: cfg.Seed, Mode: cfg.Mode}
	checked := false
	if cfg.Mode == "spawn" {
		root, err := os.MkdirTemp("", "roamsim-")
		if err != nil {
			return nil, err
		}
		rep.Dir = root
		if !cfg.KeepDir {
			defer func() {
				if checked && rep.OK() {
					os.RemoveAll(root) // kept when the run failed or found violations
				}
			}()
		}
		bin := cfg.Roamd
		if bin == "" {
			if bin, err = BuildRoamd(root); err != nil {
				return nil, err
			}
		}
		conf := filepath.Join(root, "roamd.json")
		b, skipped, err := roamdConfig(bin, clusterSettings(cfg.SendRate, cfg.SchedMinAhead))
		if err != nil {
			return nil, err
		}
		if len(skipped) > 0 {
			r.logf("roamd does not know the config keys %v: left out", skipped)
		}
		if err := os.WriteFile(conf, b, 0o644); err != nil {
			return nil, err
		}
		r.cl = &Cluster{Roamd: bin, Root: root, Config: conf, Extra: []string{"-partitions", strconv.Itoa(Partitions), "-replicas", "3"}}
		for _, k := range cfg.Faults {
			r.cl.Proxies = r.cl.Proxies || k == FaultPartition
		}
		defer r.cl.Stop()
		for i := 0; i < cfg.Nodes; i++ {
			n, err := r.cl.AddNode(ctx)
			if err != nil {
				return rep, err
			}
			r.logf("node %s up: client %s", n.Name, n.Client)
		}
		r.addrs = r.cl.ClientAddrs
		time.Sleep(2 * time.Second) // let partitions settle
	} else {
		if len(cfg.Addrs) == 0 {
			return nil, errors.New("target mode needs -addrs")
		}
		r.addrs = func() []string { return cfg.Addrs }
	}
	if err := r.setup(); err != nil {
		return rep, fmt.Errorf("setup: %w", err)
	}
	if err := r.setupGroups(); err != nil {
		return rep, fmt.Errorf("setup of the groups: %w", err)
	}
	r.logf("setup done: %d users, %d devices, %d groups", len(r.users), len(r.devs), cfg.Groups)

	// The run proper.
	r.rec.mu.Lock()
	runStart := r.rec.now()
	r.rec.mu.Unlock()
	r.phase.Store("run")
	stopProgress := r.progress(runStart)
	plan := []PlannedFault(nil)
	kinds := cfg.Faults
	if cfg.Mode != "spawn" {
		kinds = nil
		for _, k := range cfg.Faults {
			if k == FaultDisconnect {
				kinds = append(kinds, k)
			}
		}
	}
	for i, k := range kinds {
		if k == FaultClientReset {
			if err := canKillConns(); err != nil {
				r.fault("error", "clientreset", "left out of the plan: "+err.Error())
				kinds = append(kinds[:i:i], kinds[i+1:]...)
			}
			break
		}
	}
	plan = PlanFaults(cfg.Seed, cfg.Duration, cfg.Nodes, kinds, cfg.DisconnectEvery, len(r.devs))
	for _, f := range plan {
		r.logf("planned: %v", f)
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	// Node faults and client disconnects run on separate timelines, so a
	// slow graceful leave does not delay the disconnects behind it.
	var nodePlan, discPlan []PlannedFault
	for _, f := range plan {
		if f.Kind == FaultDisconnect {
			discPlan = append(discPlan, f)
		} else {
			nodePlan = append(nodePlan, f)
		}
	}
	var fw sync.WaitGroup
	fw.Add(2)
	go func() { defer fw.Done(); r.runFaults(runCtx, runStart, nodePlan) }()
	go func() { defer fw.Done(); r.runFaults(runCtx, runStart, discPlan) }()
	if cfg.AccountUsers > 0 && cfg.AccountWorkers > 0 {
		fw.Add(1)
		go func() { defer fw.Done(); r.runAccounts(runCtx, r.namePrefix()) }()
	}
	background := func(f func()) {
		fw.Add(1)
		go func() { defer fw.Done(); f() }()
	}
	background(func() { r.runBacklogs(runCtx, runStart) })
	background(func() { r.runMembers(runCtx) })
	background(func() { r.runSchedules(runCtx) })
	// No revocation starts in the last GhostLife of the run, so that the
	// ghosts are over when the run ends.
	revokeCtx, revokeCancel := context.WithTimeout(runCtx, max(cfg.Duration-cfg.GhostLife, 0))
	defer revokeCancel()
	if cfg.PasswordEvery > 0 {
		background(func() { r.runPasswords(revokeCtx) })
	}
	if cfg.DeleteEvery > 0 {
		background(func() { r.runDeletions(revokeCtx) })
	}
	r.drive(runCtx)
	cancel()
	fw.Wait()
	runEnd := r.rec.now()

	// Heal, let everything catch up, and read every inbox.
	r.phase.Store("heal")
	r.heal()
	r.sendsWG.Wait()
	r.scheds.Wait()
	r.phase.Store("quiet")
	r.tasks.Wait() // ghosts end GhostLife after their revocation
	r.bringAllOnline()
	r.tasks.Wait()
	r.waitSchedules(cfg.Quiet)
	rep.Incomplete = r.waitCaughtUp(cfg.Quiet)
	r.waitGroupsCaughtUp(cfg.Quiet)
	r.phase.Store("presence")
	rep.Presence = r.measurePresence(cfg.Quiet, r.lastFaultEnd())
	r.phase.Store("final-read")
	r.finalRead()
	finals := r.finalGroupRead()
	if r.cl != nil {
		lb := r.cl.Leaders(ctx, Partitions)
		rep.Leaders = &lb
	}
	r.closeAll()
	r.tasks.Wait()
	stopProgress()
	r.phase.Store("check")

	r.rec.mu.Lock()
	h := History{Sends: append([]Send(nil), r.rec.sends...), Devices: append([]Device(nil), r.rec.devices...),
		Sessions: append([]Session(nil), r.rec.sessions...), Cutoffs: append([]Cutoff(nil), r.rec.cutoffs...),
		GroupSends: append([]GroupSend(nil), r.rec.gsends...), MemberOps: append([]MemberOp(nil), r.rec.memberOps...), GroupFinals: finals,
		Scheds: append([]SchedIntent(nil), r.rec.scheds...)}
	rep.Errors = r.rec.errs
	rep.Backlogs = append([]BacklogSync(nil), r.rec.backlogs...)
	accounts := append([]AccountOp(nil), r.rec.accounts...)
	r.rec.mu.Unlock()
	rep.Result = Check(h)
	rep.Delivery = CheckDelivery(h, cfg.DeliveryBound)
	rep.Revocation = CheckRevocation(h, cfg.RevocationBound)
	rep.SessionEnds = CheckSessionEnds(h)
	if r.grp != nil {
		rep.Groups = CheckGroups(h, cfg.DeliveryBound)
		if !rep.Groups.OK() && rep.Dir != "" {
			if err := writeGroupHistory(h, filepath.Join(rep.Dir, "groups-history.json")); err != nil {
				r.logf("group history: %v", err)
			}
		}
	}
	if cfg.SchedEvery > 0 {
		rep.Schedules = CheckSchedules(h, r.rec.start.UnixMilli(), cfg.SchedSlack)
	}
	rep.describeLoad(r, h)
	if len(accounts) > 0 {
		rep.Accounts = CheckAccounts(accounts, time.Minute)
		if rep.Accounts.Linearizable != "ok" && rep.Dir != "" {
			rep.AccountsHTML = filepath.Join(rep.Dir, "accounts.html")
			if err := rep.Accounts.Visualize(rep.AccountsHTML); err != nil {
				rep.AccountsHTML = ""
			}
		}
	}
	checked = true
	rep.Faults = r.faults
	rep.DurationS = (runEnd - runStart).Seconds()
	rep.RunStartS = runStart.Seconds()
	rep.SendsPerS = float64(rep.Sends) / rep.DurationS
	rep.AckedPerS = float64(rep.Acked) / rep.DurationS
	var lat []time.Duration
	for _, s := range h.Sends {
		if s.Outcome == Acked {
			lat = append(lat, s.End-s.Start)
		}
	}
	rep.P50ms, rep.P90ms, rep.P99ms, rep.Maxms = pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100)
	rep.Series = series(h.Sends, runStart, runEnd)
	rep.Impacts = Impacts(h.Sends, rep.Faults, runEnd)
	if r.cl != nil {
		names := map[string]string{}
		r.cl.mu.Lock()
		for _, n := range r.cl.Nodes {
			names[n.Client] = n.Name
		}
		r.cl.mu.Unlock()
		for _, im := range rep.Impacts {
			if ws := im.Worst; ws != nil {
				ws.NodeAt, ws.NodeEnd = cmp.Or(names[ws.NodeAt], ws.NodeAt), cmp.Or(names[ws.NodeEnd], ws.NodeEnd)
			}
		}
	}
	for _, im := range rep.Impacts {
		if im.Kind == FaultPause {
			rep.PauseWorstMs = max(rep.PauseWorstMs, im.FrozenMaxWaitMs)
			rep.PauseWindowWorstMs = max(rep.PauseWindowWorstMs, im.MaxWaitMs)
		}
	}
	rep.PauseWaitLimitMs = float64(cfg.PauseWaitLimit.Microseconds()) / 1000
	return rep, nil
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return float64(s[i].Microseconds()) / 1000
}

func series(sends []Send, from, to time.Duration) []Second {
	n := int((to-from)/time.Second) + 1
	out := make([]Second, n)
	lat := make([][]time.Duration, n)
	for i := range out {
		out[i].T = i
	}
	for _, s := range sends {
		i := int((s.Start - from) / time.Second)
		if i >= 0 && i < n {
			out[i].Sends++
		}
		if s.Outcome == Acked {
			j := int((s.End - from) / time.Second)
			if j >= 0 && j < n {
				out[j].Acked++
				lat[j] = append(lat[j], s.End-s.Start)
			}
		}
	}
	for i := range out {
		out[i].P50ms, out[i].P99ms = pct(lat[i], 50), pct(lat[i], 99)
	}
	return out
}

// setup registers the users, builds the friend graph and logs the first
// device of every user in.
func (r *runner) setup() error {
	cfg := r.cfg
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5e7))
	prefix := r.namePrefix()
	load := rand.New(rand.NewPCG(cfg.Seed, 0x10ad))
	for i := 0; i < cfg.Users; i++ {
		u := &user{name: fmt.Sprintf("%s%d", prefix, i), pw: fmt.Sprintf("pw-%d-%d", cfg.Seed, i)}
		r.users = append(r.users, u)
		r.byName[u.name] = u
		devices := cfg.Devices
		if cfg.DevicesMax > cfg.Devices && load.Float64() < cfg.ManyDevicesShare {
			devices = cfg.Devices + 1 + load.IntN(cfg.DevicesMax-cfg.Devices)
		}
		for d := 0; d < devices; d++ {
			dev := &device{idx: len(r.devs), id: fmt.Sprintf("%s-d%d", u.name, d), user: u, state: "offline"}
			r.rec.devices = append(r.rec.devices, Device{ID: dev.id, User: u.name})
			dev.rec = len(r.rec.devices) - 1
			u.devs = append(u.devs, dev)
			r.devs = append(r.devs, dev)
		}
	}
	// Exactly QuietShare of the users are quiet, chosen by the seed.
	for k, i := range load.Perm(len(r.users)) {
		r.users[i].quiet = float64(k) < cfg.QuietShare*float64(len(r.users))-0.5
	}
	// The friend graph: a ring (so nobody is alone) plus random edges.
	type pair struct{ a, b int }
	edges := map[pair]bool{}
	addEdge := func(a, b int) {
		if a == b {
			return
		}
		if a > b {
			a, b = b, a
		}
		edges[pair{a, b}] = true
	}
	for i := range r.users {
		addEdge(i, (i+1)%len(r.users))
		for k := 1; k < cfg.Friends; k++ {
			addEdge(i, rng.IntN(len(r.users)))
		}
	}
	var list []pair
	for e := range edges {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].a < list[j].a || list[i].a == list[j].a && list[i].b < list[j].b })
	addrs := r.addrs()
	// Register and log in device 0 of everyone, a few at a time.
	errc := make(chan error, len(r.users))
	sem := make(chan struct{}, 4)
	for i, u := range r.users {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errc <- r.registerAndLogin(u, addrs[i%len(addrs)])
		}()
	}
	for range r.users {
		if err := <-errc; err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
	defer cancel()
	for _, e := range list {
		a, b := r.users[e.a], r.users[e.b]
		if err := retry(ctx, func() error {
			cl, err := a.devs[0].client()
			if err != nil {
				return err
			}
			return cl.FriendRequest(ctx, b.name)
		}); err != nil {
			return fmt.Errorf("friend request %s -> %s: %w", a.name, b.name, err)
		}
		if err := retry(ctx, func() error {
			cl, err := b.devs[0].client()
			if err != nil {
				return err
			}
			return cl.FriendAccept(ctx, a.name)
		}); err != nil {
			return fmt.Errorf("friend accept %s -> %s: %w", b.name, a.name, err)
		}
		a.friends = append(a.friends, b.name)
		b.friends = append(b.friends, a.name)
	}
	// The other devices come online too, a few at a time.
	errc = make(chan error, len(r.devs))
	for i, d := range r.devs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errc <- r.online(d, addrs[i%len(addrs)])
		}()
	}
	for range r.devs {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

// namePrefix starts every user name of the run: the seed, and in target
// mode the time too, so that runs against one cluster do not collide.
func (r *runner) namePrefix() string {
	if r.cfg.Mode == "target" {
		return fmt.Sprintf("s%xt%xu", r.cfg.Seed&0xffffff, r.rec.start.Unix()&0xfffff)
	}
	return fmt.Sprintf("s%xu", r.cfg.Seed&0xffffff)
}

func retry(ctx context.Context, f func() error) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = f(); err == nil || errors.Is(err, client.ErrNameTaken) {
			return nil
		}
		if errors.Is(err, client.ErrRefused) || errors.Is(err, client.ErrBadRequest) || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return err
}

func (r *runner) registerAndLogin(u *user, addr string) error {
	ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, r.clientConfig(client.NewDeviceID(), addr))
	if err != nil {
		return err
	}
	err = retry(ctx, func() error { return cl.Register(ctx, u.name, u.pw) })
	cl.Close()
	if err != nil {
		return fmt.Errorf("register %s: %w", u.name, err)
	}
	return r.online(u.devs[0], addr)
}
