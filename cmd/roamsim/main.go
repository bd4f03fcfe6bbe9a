// Command roamsim is roam's churn simulator: it drives a roam cluster with
// a randomized messaging workload while injecting faults drawn from a
// seed, then checks the recorded history (lost, duplicated, unexpected,
// out-of-order messages). It exits with status 1 when an invariant is
// violated and 2 when the run itself failed.
//
//	roamsim -mode spawn -nodes 3 -duration 75s -seed 1 -json out.json -svg out.svg
//	roamsim -mode target -addrs 127.0.0.1:7400,127.0.0.1:7410 -duration 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/roamhq/roam/sim"
)

func main() {
	var cfg sim.Config
	var addrs, faults, jsonOut, svgOut string
	var seed int64
	flag.StringVar(&cfg.Mode, "mode", "spawn", "spawn (start roamd processes on loopback) or target (drive -addrs, no process faults)")
	flag.StringVar(&addrs, "addrs", "", "target mode: client addresses `HOST:PORT,...`")
	flag.IntVar(&cfg.Nodes, "nodes", 3, "spawn mode: initial node count")
	flag.StringVar(&cfg.Roamd, "roamd", "", "spawn mode: roamd binary (default: go build it into the temp dir)")
	flag.BoolVar(&cfg.KeepDir, "keep", false, "spawn mode: keep the temp dir with node data and logs (kept anyway on a violation)")
	flag.Int64Var(&seed, "seed", 1, "seed of the fault schedule and the workload decisions")
	flag.IntVar(&cfg.Users, "users", 16, "users")
	flag.IntVar(&cfg.Devices, "devices", 2, "devices per user")
	flag.IntVar(&cfg.Friends, "friends", 3, "friends per user (about)")
	flag.Float64Var(&cfg.Rate, "rate", 50, "total send rate per second")
	flag.DurationVar(&cfg.Duration, "duration", 60*time.Second, "length of the faulty run (before the quiet period)")
	flag.DurationVar(&cfg.Quiet, "quiet", 20*time.Second, "how long the end may wait for devices to catch up")
	flag.Float64Var(&cfg.Churn, "churn", 1, "device log-outs/drops per second (each comes back 1-7s later)")
	flag.StringVar(&faults, "faults", "kill,pause,leave,join,disconnect", "fault kinds: kill, pause, leave, join, disconnect, partition (partition puts a TCP proxy in front of each node's internal port)")
	flag.DurationVar(&cfg.DisconnectEvery, "disconnect-every", 5*time.Second, "mean spacing of client disconnect faults")
	flag.IntVar(&cfg.AccountUsers, "accounts", 3, "accounts of the account workload (register, login, password change, profile; checked with porcupine); 0: none")
	flag.IntVar(&cfg.AccountWorkers, "account-clients", 3, "concurrent clients per account")
	flag.DurationVar(&cfg.AccountInterval, "account-interval", 500*time.Millisecond, "mean pause of each account client between operations")
	flag.StringVar(&jsonOut, "json", "", "write the report as JSON to `FILE`")
	flag.StringVar(&svgOut, "svg", "", "write a chart of throughput and latency with faults to `FILE`")
	quietLog := flag.Bool("q", false, "no progress or fault lines")
	planOnly := flag.Bool("plan", false, "print the fault schedule the seed gives and exit")
	flag.Parse()
	cfg.Seed = uint64(seed)
	if addrs != "" {
		cfg.Addrs = strings.Split(addrs, ",")
	}
	var err error
	if cfg.Faults, err = sim.ParseKinds(faults); err != nil {
		fmt.Fprintln(os.Stderr, "roamsim:", err)
		os.Exit(2)
	}
	if cfg.Mode != "spawn" && cfg.Mode != "target" {
		fmt.Fprintln(os.Stderr, "roamsim: -mode is spawn or target")
		os.Exit(2)
	}
	if cfg.Users < 2 || cfg.Devices < 1 || cfg.Rate <= 0 || cfg.Nodes < 1 || cfg.AccountUsers < 0 || cfg.AccountWorkers < 0 || cfg.AccountInterval <= 0 {
		fmt.Fprintln(os.Stderr, "roamsim: want -users >= 2, -devices >= 1, -rate > 0, -nodes >= 1, -accounts >= 0, -account-clients >= 0, -account-interval > 0")
		os.Exit(2)
	}
	if *planOnly {
		kinds := cfg.Faults
		if cfg.Mode == "target" {
			kinds = []string{sim.FaultDisconnect}
		}
		for _, f := range sim.PlanFaults(cfg.Seed, cfg.Duration, cfg.Nodes, kinds, cfg.DisconnectEvery, cfg.Users*cfg.Devices) {
			fmt.Println(f)
		}
		return
	}
	if !*quietLog {
		cfg.Progress, cfg.Log = os.Stderr, os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := sim.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "roamsim:", err)
		if rep != nil && rep.Dir != "" {
			fmt.Fprintln(os.Stderr, "roamsim: node logs in", rep.Dir)
		}
		os.Exit(2)
	}
	rep.WriteTable(os.Stdout)
	if jsonOut != "" {
		if err := rep.WriteJSON(jsonOut); err != nil {
			fmt.Fprintln(os.Stderr, "roamsim:", err)
		}
	}
	if svgOut != "" {
		if err := rep.WriteSVG(svgOut); err != nil {
			fmt.Fprintln(os.Stderr, "roamsim:", err)
		}
	}
	if !rep.OK() {
		os.Exit(1)
	}
}
