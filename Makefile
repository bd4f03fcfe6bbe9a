# roam — build, test and run targets. See README.md.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
MAKEFLAGS += --no-builtin-rules

GO       ?= go
BIN      := bin
PKGS     := ./...
# How much each fuzz target runs in `make test` (fuzz-short) and `make fuzz`.
# Budgets are execution counts (Nx), not durations: with go1.26 a duration
# budget races the fuzz coordinator's deadline and fails spuriously with
# "context deadline exceeded" (golang/go#75804, fixed in go1.27).
#   fuzz-short: every target once, FUZZTIME_SHORT executions, or its own
#     count in FUZZ_SHORT_COUNTS (the end-to-end targets open connections
#     and run at 100-3000 executions/s against 10k-100k for the decoders);
#     about a minute in all.
#   fuzz: FUZZ_SECONDS of wall time in all, an equal share per target,
#     spent in rounds of counted executions: each round's count comes from
#     the rate the target's previous rounds measured (scripts/fuzz.sh).
FUZZTIME_SHORT    ?= 20000x
FUZZ_SHORT_COUNTS ?= FuzzClientConn=300x FuzzConn=3000x FuzzConnTLS=1500x FuzzMux=1500x FuzzAdminStatus=10000x
FUZZ_SECONDS      ?= 600

.PHONY: build test unit fuzz-short fuzz lint vet fmt-check race tidy-check bench run clean

build: ## compile every package and the binaries into bin/
	$(GO) build $(PKGS)
	$(GO) build -o $(BIN)/ ./cmd/...

test: lint unit fuzz-short sim ## what CI runs: lint, every test, short fuzz runs, the churn simulation

unit:
	$(GO) test -count=1 -timeout 12m $(PKGS)

# Runs each fuzz target briefly (beyond its seed corpus, which `unit` runs).
fuzz-short:
	GO=$(GO) FUZZTIME_SHORT=$(FUZZTIME_SHORT) FUZZ_SHORT_COUNTS="$(FUZZ_SHORT_COUNTS)" scripts/fuzz.sh short

fuzz: ## run every fuzz target, FUZZ_SECONDS (10 minutes) in all
	GO=$(GO) FUZZTIME_SHORT=$(FUZZTIME_SHORT) FUZZ_SHORT_COUNTS="$(FUZZ_SHORT_COUNTS)" scripts/fuzz.sh long $(FUZZ_SECONDS)

lint: fmt-check vet ## gofmt + go vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

race: ## tests with the race detector
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

tidy-check: ## go.mod/go.sum are tidy
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

# The benchmark suite (not part of `make test`; about 11 minutes on 2 cores):
# the Go micro-benchmarks of the hot paths, then cmd/roambench, which
# measures the baseline relay (bench/relay) and roam 1-node and 3-node
# clusters with TLS on both ports (what users run; BENCH_FLAGS=-plaintext
# for none) in one run, then the TLS-cost phase (a 3-node cluster with TLS
# on both ports against plaintext on both, coarser steps up to the first
# one not sustained, and logins; about 1.5 minutes; -tls-cost=false skips
# it, -only-tls-cost runs it alone), then the group phase (fan-out of a
# 1,000-member group over 3 nodes in rate steps, and the RSS of 1,000
# groups of 100; about 3 minutes; -groups=false skips it, -only-groups
# runs it alone), then the scene phase (2,000 players of one scene on 3
# nodes moving 5 times a second, says and actions in rate steps; about 2
# minutes; -scenes=false skips it, -only-scenes runs it alone), and writes
# bench/results.json and BENCHMARKS.md.
BENCH_PKGS  ?= ./wire ./ring ./hlr ./node/gate ./scene
BENCH_FLAGS ?=
bench: ## benchmark suite: writes bench/results.json and BENCHMARKS.md (not part of make test)
	$(GO) build -o $(BIN)/ ./cmd/...
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=200ms $(BENCH_PKGS) | tee bench/gobench.txt
	$(BIN)/roambench -roamd $(BIN)/roamd -gobench bench/gobench.txt -out bench/results.json -md BENCHMARKS.md \
	  -command 'make bench$(if $(BENCH_FLAGS), BENCH_FLAGS="$(BENCH_FLAGS)")' $(BENCH_FLAGS)

# The churn simulator (part of `make test`; about 2 min): a 3-node
# cluster on loopback, 95 s of messaging (200 sends/s, bodies up to
# 1,440 bytes, up to 6 devices per user, quiet users, a 1,500-message
# backlog synced on other nodes, password changes, account deletions)
# under faults drawn from SIM_SEED (a graceful leave + restart, a SIGSTOP
# pause, a kill -9 + restart, a partition with logins elsewhere, gate
# items dropped, gate and client connections reset, a fourth node
# joining, client drops), then the checkers; fails on any lost,
# duplicated, unexpected, out-of-order or corrupted message, a delivery
# to an online device later than 2 s, a revoked session active after 5 s,
# a session_invalid of an unrevoked session, a backlog that does not
# sync, a non-linearizable account history, unconverged presence, or a
# scheduled message (about 5 a second, 1.5-4 s ahead, some cancelled,
# edited or sent now; roamd schedule_min_ahead 1s) that fires twice, is
# lost, fires although cancelled, early, or with a body it no longer had.
# Report in bin/sim-report.{json,svg,html}.
SIM_SEED  ?= 1
SIM_FLAGS ?=
.PHONY: sim
sim: ## churn simulator with fault injection and history checkers (see sim/)
	$(GO) build -o $(BIN)/ ./cmd/roamd ./cmd/roamsim
	$(BIN)/roamsim -mode spawn -roamd $(BIN)/roamd -nodes 3 -duration 95s -quiet 20s -seed $(SIM_SEED) \
	  -rate 200 -users 32 -devices 2 -devices-max 6 -backlog-users 1 -backlog 1500 -password-every 20s -delete-every 30s \
	  -groups 6 -group-members 8 -group-share 0.05 -member-every 1s \
	  -sched-every 200ms -sched-group-share 0.2 -sched-min-ahead 1s -sched-max-ahead 4s \
	  -faults kill,pause,leave,join,partition,disconnect,gatedrop,gatereset,clientreset \
	  -json $(BIN)/sim-report.json -svg $(BIN)/sim-report.svg -html $(BIN)/sim-report.html $(SIM_FLAGS)

run: ## start a 3-node local cluster on embedded storage under .run/ (Ctrl-C stops it)
	$(GO) build -o $(BIN)/ ./cmd/...
	ROAM_BIN=$(BIN) ./scripts/run-cluster.sh

clean:
	rm -rf $(BIN) .run
