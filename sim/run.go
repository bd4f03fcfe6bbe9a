package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/ring"
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
	Progress        io.Writer // live progress lines (stderr)
	Log             io.Writer // fault log lines
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
	Leaders      *LeaderBalance `json:"leaders,omitempty"` // at the end (sim/leaders.go)
}

// Second is one second of the run, for the chart.
type Second struct {
	T     int     `json:"t"`
	Sends int     `json:"sends"`
	Acked int     `json:"acked"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

type device struct {
	idx  int
	id   string
	user *user
	rec  int // index in recorder.devices

	mu      sync.Mutex
	cl      *client.Client
	state   string // offline, online, moving
	cursor  uint64
	readerD chan struct{}
	sends   sync.WaitGroup
	view    map[string]presenceSeen // friends' presence as pushed to this device
}

type user struct {
	name, pw string
	friends  []string
	devs     []*device
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
}

func (r *recorder) now() time.Duration { return time.Since(r.start) }

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
	ctx     context.Context
	bg      sync.WaitGroup
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
	r := &runner{cfg: cfg, rec: &recorder{errs: map[string]int{}, maxSeq: map[string]uint64{}}, sem: make(chan struct{}, 1024), ctx: ctx}
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
		os.WriteFile(conf, []byte(`{"send_rate": 1000, "send_burst": 1000, "register_rate": 1000, "register_burst": 1000, "max_conns_per_ip": 100000, "login_failures": 100000, "login_rate": 1000, "login_burst": 100000, "resume_rate": 1000, "resume_burst": 100000, "resume_failures": 100000, "friend_rate": 1000, "friend_burst": 100000, "block_rate": 1000, "block_burst": 100000, "profile_rate": 1000, "profile_burst": 100000, "max_prelogin_per_ip": 10000}`), 0o644)
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
	r.logf("setup done: %d users, %d devices", len(r.users), len(r.devs))

	// The run proper.
	r.rec.mu.Lock()
	runStart := r.rec.now()
	r.rec.mu.Unlock()
	r.phase.Store("run")
	stopProgress := r.progress()
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
	r.drive(runCtx)
	cancel()
	fw.Wait()
	runEnd := r.rec.now()

	// Heal, let everything catch up, and read every inbox.
	r.phase.Store("heal")
	r.heal()
	r.sendsWG.Wait()
	r.phase.Store("quiet")
	r.bringAllOnline()
	r.bg.Wait()
	rep.Incomplete = r.waitCaughtUp(cfg.Quiet)
	r.phase.Store("presence")
	rep.Presence = r.measurePresence(cfg.Quiet, r.lastFaultEnd())
	if r.cl != nil {
		rep.Leaders = r.cl.LeaderBalance()
	}
	r.phase.Store("final-read")
	r.finalRead()
	r.closeAll()
	stopProgress()
	r.phase.Store("check")

	r.rec.mu.Lock()
	h := History{Sends: append([]Send(nil), r.rec.sends...), Devices: append([]Device(nil), r.rec.devices...)}
	rep.Errors = r.rec.errs
	accounts := append([]AccountOp(nil), r.rec.accounts...)
	r.rec.mu.Unlock()
	rep.Result = Check(h)
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
	for i := 0; i < cfg.Users; i++ {
		u := &user{name: fmt.Sprintf("%s%d", prefix, i), pw: fmt.Sprintf("pw-%d-%d", cfg.Seed, i)}
		r.users = append(r.users, u)
		for d := 0; d < cfg.Devices; d++ {
			dev := &device{idx: len(r.devs), id: fmt.Sprintf("%s-d%d", u.name, d), user: u, state: "offline"}
			r.rec.devices = append(r.rec.devices, Device{ID: dev.id, User: u.name})
			dev.rec = len(r.rec.devices) - 1
			u.devs = append(u.devs, dev)
			r.devs = append(r.devs, dev)
		}
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
		if err := retry(ctx, func() error { return a.devs[0].cl.FriendRequest(ctx, b.name) }); err != nil {
			return fmt.Errorf("friend request %s -> %s: %w", a.name, b.name, err)
		}
		if err := retry(ctx, func() error { return b.devs[0].cl.FriendAccept(ctx, a.name) }); err != nil {
			return fmt.Errorf("friend accept %s -> %s: %w", b.name, a.name, err)
		}
		a.friends = append(a.friends, b.name)
		b.friends = append(b.friends, a.name)
	}
	// The other devices come online too.
	for i, d := range r.devs {
		if d.state == "offline" {
			if err := r.online(d, addrs[i%len(addrs)]); err != nil {
				return err
			}
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

// online logs device d in on addr (first), continuing from its cursor.
func (r *runner) online(d *device, addr string) error {
	// Claim the device: only one goroutine brings it online, so that a
	// device never has two clients (two readers would corrupt its stream).
	d.mu.Lock()
	if d.state != "offline" {
		d.mu.Unlock()
		return nil
	}
	d.state = "moving"
	cursor := d.cursor
	d.mu.Unlock()
	fail := func(err error) error {
		d.mu.Lock()
		d.state = "offline"
		d.mu.Unlock()
		return err
	}
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	// Each attempt uses a fresh client: a Login that failed on one client
	// may have left it half logged in (see the report: a retry on the
	// same client got already_logged_in).
	var cl *client.Client
	var err error
	for attempt := 1; ; attempt++ {
		cl, err = client.Dial(ctx, r.clientConfig(d.id, addr))
		if err == nil {
			cl.SetCursor(cursor)
			if err = cl.Login(ctx, d.user.name, d.user.pw); err == nil {
				break
			}
			cl.Close()
		}
		if attempt == 5 || ctx.Err() != nil || errors.Is(err, client.ErrAuthFailed) {
			return fail(fmt.Errorf("log in %s: %w", d.id, err))
		}
		r.logf("log in %s on %s, attempt %d: %v", d.id, addr, attempt, err)
		time.Sleep(300 * time.Millisecond)
	}
	done := make(chan struct{})
	go r.read(d, cl, done)
	d.mu.Lock()
	d.cl, d.state, d.readerD = cl, "online", done
	d.mu.Unlock()
	return nil
}

// read records every message the device receives.
func (r *runner) read(d *device, cl *client.Client, done chan struct{}) {
	defer close(done)
	for ev := range cl.Events() {
		if ev.Kind == client.EventPresence {
			d.seePresence(ev.User, ev.Status, r.rec.now())
		}
		if ev.Kind != client.EventMessage {
			continue
		}
		m := ev.Message
		at := r.rec.now()
		r.rec.mu.Lock()
		r.rec.devices[d.rec].Delivered = append(r.rec.devices[d.rec].Delivered, Delivery{Seq: m.Seq, ID: m.ID, From: m.From, Body: string(m.Body), At: at})
		r.rec.mu.Unlock()
		d.mu.Lock()
		if m.Seq > d.cursor {
			d.cursor = m.Seq
		}
		d.mu.Unlock()
	}
}

// offline takes d offline: gracefully (log out) or abruptly (close).
func (r *runner) offline(d *device, graceful bool) {
	d.mu.Lock()
	if d.state != "online" {
		d.mu.Unlock()
		return
	}
	d.state = "moving"
	cl, done := d.cl, d.readerD
	d.mu.Unlock()
	if graceful {
		d.sends.Wait()
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		cl.Logout(ctx)
		cancel()
	}
	cl.Close()
	<-done
	d.mu.Lock()
	d.cl, d.state = nil, "offline"
	d.mu.Unlock()
}

// away takes d offline and brings it back after dur on a random node.
func (r *runner) away(d *device, graceful bool, dur time.Duration, addr string) {
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		r.offline(d, graceful)
		time.Sleep(dur)
		d.mu.Lock()
		st := d.state
		d.mu.Unlock()
		if st != "offline" {
			return
		}
		if err := r.online(d, addr); err != nil {
			r.logf("device %s could not come back: %v", d.id, err)
		}
	}()
}

// drive is the workload loop: every decision comes from one seeded
// generator, so the same seed makes the same decisions.
func (r *runner) drive(ctx context.Context) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0xd71e))
	tick := time.Duration(float64(time.Second) / r.cfg.Rate)
	t := time.NewTicker(tick)
	defer t.Stop()
	churnP := r.cfg.Churn / r.cfg.Rate
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n++
		u := r.users[rng.IntN(len(r.users))]
		d := u.devs[rng.IntN(len(u.devs))]
		to := u.friends[rng.IntN(len(u.friends))]
		churn := rng.Float64() < churnP
		gracefulChurn := rng.IntN(4) != 0
		awayFor := time.Duration(1000+rng.IntN(6000)) * time.Millisecond
		addrs := r.addrs()
		addr := addrs[rng.IntN(len(addrs))]
		if churn {
			r.away(d, gracefulChurn, awayFor, addr)
			continue
		}
		body := fmt.Sprintf("sim:%d:%d:%s>%s", r.cfg.Seed, n, d.id, to)
		r.send(d, to, body)
	}
}

func (r *runner) send(d *device, to, body string) {
	d.mu.Lock()
	if d.state != "online" {
		d.mu.Unlock()
		return
	}
	cl := d.cl
	d.sends.Add(1)
	d.mu.Unlock()
	select {
	case r.sem <- struct{}{}:
	default:
		d.sends.Done() // too many in flight: skip this one
		return
	}
	r.sendsWG.Add(1)
	r.nsent.Add(1)
	go func() {
		defer r.sendsWG.Done()
		defer d.sends.Done()
		defer func() { <-r.sem }()
		cmid := cl.NextCMID()
		s := Send{Body: body, From: d.user.name, FromDevice: d.id, To: to, CMID: cmid, Start: r.rec.now()}
		ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
		ack, err := cl.Send(ctx, to, []byte(body), client.WithCMID(cmid))
		cancel()
		s.End = r.rec.now()
		switch {
		case err == nil:
			s.Outcome, s.AckID, s.AckSeq = Acked, ack.ID, ack.Seq
			r.nacked.Add(1)
		case errors.Is(err, client.ErrRefused), errors.Is(err, client.ErrRateLimited), errors.Is(err, client.ErrTooLarge),
			errors.Is(err, client.ErrBadRequest):
			// A refusal: the server did not take the message.
			s.Outcome, s.Err = Refused, err.Error()
		default:
			s.Outcome, s.Err = Unknown, err.Error()
		}
		r.rec.mu.Lock()
		r.rec.sends = append(r.rec.sends, s)
		if s.Outcome != Acked {
			r.rec.errs[errKey(err)]++
		} else if s.AckSeq > r.rec.maxSeq[to] {
			r.rec.maxSeq[to] = s.AckSeq
		}
		r.rec.mu.Unlock()
	}()
}

func errKey(err error) string {
	switch {
	case errors.Is(err, client.ErrBusy):
		return "busy"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	case errors.Is(err, client.ErrRefused):
		return "refused"
	case errors.Is(err, client.ErrNotLoggedIn):
		return "not_logged_in"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// runFaults executes the plan.
func (r *runner) runFaults(ctx context.Context, base time.Duration, plan []PlannedFault) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, f := range plan {
		wait := base + f.At - r.rec.now()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if f.Kind == FaultDisconnect {
			d := r.devs[f.Device%len(r.devs)]
			d.mu.Lock()
			st := d.state
			d.mu.Unlock()
			if st != "online" {
				r.logf("disconnect %s skipped: %s", d.id, st)
				continue
			}
			r.fault(FaultDisconnect, d.id, fmt.Sprintf("for %v", f.Dur))
			addrs := r.addrs()
			r.away(d, false, f.Dur, addrs[f.Device%len(addrs)])
			continue
		}
		if r.cl == nil {
			continue
		}
		if f.Kind == FaultJoin {
			r.fault(FaultJoin, fmt.Sprintf("n%d", len(r.cl.Nodes)+1), "new node")
			n, err := r.cl.AddNode(r.ctx)
			if err != nil {
				r.fault("error", "join", err.Error())
			} else {
				r.logf("node %s joined: client %s", n.Name, n.Client)
			}
			continue
		}
		r.cl.mu.Lock()
		n := r.cl.Nodes[f.Node%len(r.cl.Nodes)]
		r.cl.mu.Unlock()
		if n.State() != "up" {
			r.logf("%s %s skipped: %s", f.Kind, n.Name, n.State())
			continue
		}
		switch f.Kind {
		case FaultKill:
			detail := "random node"
			if ln, why := r.busyLeader(); ln != nil {
				n, detail = ln, why
			}
			r.fault(FaultKill, n.Name, fmt.Sprintf("kill -9 (%s), restart after %v", detail, f.Dur))
			n.Kill()
		case FaultPause:
			r.fault(FaultPause, n.Name, fmt.Sprintf("SIGSTOP for %v", f.Dur))
			n.Pause()
		case FaultPartition:
			if n.Proxy == nil {
				continue
			}
			side := r.minority(n, f.Size)
			names := make([]string, len(side))
			for i, m := range side {
				names[i] = m.Name
			}
			r.fault(FaultPartition, strings.Join(names, "+"), fmt.Sprintf("cut off from the other nodes both ways for %v (internal port; gossip still up)", f.Dur))
			r.cl.Partition(side)
		case FaultLeave:
			r.fault(FaultLeave, n.Name, fmt.Sprintf("SIGTERM, restart after %v", f.Dur))
			if err := n.Leave(); err != nil {
				r.fault("error", n.Name, err.Error())
			} else {
				r.logf("%s left", n.Name)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(f.Dur):
		}
		r.restore(n, f.Kind)
	}
}

func (r *runner) restore(n *Node, kind string) {
	switch kind {
	case FaultPause:
		r.fault("resume", n.Name, "SIGCONT")
		n.Resume()
	case FaultPartition:
		r.fault("heal", n.Name, "internal connections allowed again")
		r.cl.HealPartition()
	default:
		if n.State() == "down" {
			r.fault("restart", n.Name, "same data dir and addresses")
			if err := r.cl.Start(r.ctx, n); err != nil {
				r.fault("error", n.Name, "restart: "+err.Error())
			}
		}
	}
}

// minority is the side of a partition fault: n and, when size asks for
// more, the nodes after it that are up, never half of the nodes or more.
func (r *runner) minority(n *Node, size int) []*Node {
	r.cl.mu.Lock()
	nodes := append([]*Node(nil), r.cl.Nodes...)
	r.cl.mu.Unlock()
	limit := (len(nodes) - 1) / 2
	if size > limit {
		size = limit
	}
	side := []*Node{n}
	start := 0
	for i, m := range nodes {
		if m == n {
			start = i
		}
	}
	for k := 1; k < len(nodes) && len(side) < size; k++ {
		if m := nodes[(start+k)%len(nodes)]; m.State() == "up" {
			side = append(side, m)
		}
	}
	return side
}

// busyLeader finds the node that leads the partition of the user who
// received the most acked messages: the preferred leader of that
// partition by the same placement the nodes compute (ring.Place over the
// live members). Leadership moves to the preferred replica within a
// reconcile interval, so this is the actual leader except right after a
// membership change.
func (r *runner) busyLeader() (*Node, string) {
	r.rec.mu.Lock()
	busiest, most := "", uint64(0)
	for u, seq := range r.rec.maxSeq {
		if seq > most || seq == most && u < busiest {
			busiest, most = u, seq
		}
	}
	r.rec.mu.Unlock()
	if busiest == "" {
		return nil, ""
	}
	r.cl.mu.Lock()
	nodes := append([]*Node(nil), r.cl.Nodes...)
	r.cl.mu.Unlock()
	var members []ring.Member
	byName := map[string]*Node{}
	for _, n := range nodes {
		if n.State() != "down" {
			members = append(members, ring.Member{ID: n.Name})
			byName[n.Name] = n
		}
	}
	pid := ring.PartitionOf(busiest, Partitions)
	pl, err := ring.Place(Partitions, 3, members)
	if err != nil {
		return nil, ""
	}
	n := byName[pl.Leader(pid)]
	if n == nil || n.State() != "up" {
		return nil, ""
	}
	return n, fmt.Sprintf("preferred leader of partition %d, home of busiest recipient %s", pid, busiest)
}

// lastFaultEnd is when the last node fault ended (its heal, resume or
// restart, or the fault itself for a join), 0 when there was none.
func (r *runner) lastFaultEnd() time.Duration {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	var last time.Duration
	for _, f := range r.faults {
		if f.Kind != FaultDisconnect && f.At > last {
			last = f.At
		}
	}
	return last
}

// heal resumes paused nodes and restarts dead ones.
func (r *runner) heal() {
	if r.cl == nil {
		return
	}
	r.cl.mu.Lock()
	nodes := append([]*Node(nil), r.cl.Nodes...)
	r.cl.mu.Unlock()
	r.cl.HealPartition()
	for _, n := range nodes {
		switch n.State() {
		case "paused":
			r.restore(n, FaultPause)
		case "down":
			r.restore(n, FaultKill)
		}
	}
}

func (r *runner) bringAllOnline() {
	addrs := r.addrs()
	for i, d := range r.devs {
		d.mu.Lock()
		st := d.state
		d.mu.Unlock()
		if st == "offline" {
			if err := r.online(d, addrs[i%len(addrs)]); err != nil {
				r.logf("device %s could not come back: %v", d.id, err)
			}
		}
	}
}

// waitCaughtUp waits until every online device has received its user's
// highest acked seq, then marks online devices complete. It returns the
// devices that could not be checked for completeness.
func (r *runner) waitCaughtUp(limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		lag := r.lagging()
		if len(lag) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var incomplete []string
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for _, d := range r.devs {
		d.mu.Lock()
		if d.state == "online" {
			r.rec.devices[d.rec].Complete = true
		} else {
			incomplete = append(incomplete, d.id+" ("+d.state+")")
		}
		d.mu.Unlock()
	}
	return incomplete
}

func (r *runner) lagging() []string {
	r.rec.mu.Lock()
	want := make(map[string]uint64, len(r.rec.maxSeq))
	for k, v := range r.rec.maxSeq {
		want[k] = v
	}
	r.rec.mu.Unlock()
	var lag []string
	for _, d := range r.devs {
		d.mu.Lock()
		if d.state == "online" && d.cursor < want[d.user.name] {
			lag = append(lag, d.id)
		}
		d.mu.Unlock()
	}
	return lag
}

// finalRead logs every user in on a fresh device and reads the whole
// inbox from seq 1.
func (r *runner) finalRead() {
	addrs := r.addrs()
	r.rec.mu.Lock()
	want := make(map[string]uint64, len(r.rec.maxSeq))
	for k, v := range r.rec.maxSeq {
		want[k] = v
	}
	r.rec.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, u := range r.users {
		d := &device{idx: -1, id: fmt.Sprintf("%s-final", u.name), user: u, state: "offline"}
		r.rec.mu.Lock()
		r.rec.devices = append(r.rec.devices, Device{ID: d.id, User: u.name, Complete: true})
		d.rec = len(r.rec.devices) - 1
		r.rec.mu.Unlock()
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.online(d, addrs[i%len(addrs)]); err != nil {
				r.logf("final read of %s: %v", u.name, err)
				return
			}
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				d.mu.Lock()
				c := d.cursor
				d.mu.Unlock()
				if c >= want[u.name] {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // anything beyond the highest ack (recovered sends)
			r.offline(d, false)
		}()
	}
	wg.Wait()
}

func (r *runner) closeAll() {
	var wg sync.WaitGroup
	for _, d := range r.devs {
		wg.Add(1)
		go func() { defer wg.Done(); r.offline(d, false) }()
	}
	wg.Wait()
}

// progress prints a line every second until the returned func is called.
func (r *runner) progress() func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := int64(0)
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			sent := r.nsent.Load()
			r.fmu.Lock()
			nf := len(r.faults)
			r.fmu.Unlock()
			fmt.Fprintf(r.cfg.Progress, "roamsim: %6.1fs %-10s sends/s %4d  sent %6d  acked %6d  faults %d\n",
				r.rec.now().Seconds(), r.phase.Load(), sent-last, sent, r.nacked.Load(), nf)
			last = sent
		}
	}()
	return func() { close(stop); <-done }
}
