package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "roam.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSettings_Precedence(t *testing.T) {
	file := writeFile(t, `{
		"data": "/file/data", "client": "127.0.0.1:1001", "internal": "127.0.0.1:2001",
		"partitions": 16, "node-id": "file-node", "log_level": "warn", "log_json": true,
		"max_body": 2000, "message_ttl": "2h", "heartbeat": "10s", "send_rate": 2.5
	}`)
	// Defaults only.
	s, err := loadSettings([]string{"-data", "/d"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.node.ClientAddr != "127.0.0.1:7400" || s.node.InternalAddr != "127.0.0.1:7401" || s.node.Partitions != 0 || s.logLevel != slog.LevelInfo || s.logJSON {
		t.Fatalf("defaults: %+v", s)
	}

	// File only.
	s, err = loadSettings([]string{"-config", file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v := s.node.VLR
	if s.node.DataDir != "/file/data" || s.node.ClientAddr != "127.0.0.1:1001" || s.node.InternalAddr != "127.0.0.1:2001" ||
		s.node.Partitions != 16 || s.node.NodeID != "file-node" || s.logLevel != slog.LevelWarn || !s.logJSON ||
		v.MaxBody != 2000 || v.MessageTTL != 2*time.Hour || v.HeartbeatInterval != 10*time.Second || v.SendRate != 2.5 {
		t.Fatalf("file: %+v", s)
	}

	// The environment overrides the file.
	e := env(map[string]string{
		"ROAM_DATA": "/env/data", "ROAM_CLIENT": "127.0.0.1:1002", "ROAM_INTERNAL": "127.0.0.1:2002",
		"ROAM_PARTITIONS": "32", "ROAM_NODE_ID": "env-node", "ROAM_LOG_LEVEL": "debug",
	})
	s, err = loadSettings([]string{"-config", file}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.node.DataDir != "/env/data" || s.node.ClientAddr != "127.0.0.1:1002" || s.node.InternalAddr != "127.0.0.1:2002" ||
		s.node.Partitions != 32 || s.node.NodeID != "env-node" || s.logLevel != slog.LevelDebug || s.node.VLR.MaxBody != 2000 {
		t.Fatalf("env: %+v", s)
	}

	// Flags override both.
	s, err = loadSettings([]string{"-config", file, "-data", "/flag/data", "-client", "127.0.0.1:1003",
		"-internal", "127.0.0.1:2003", "-partitions", "8", "-node-id", "flag-node", "-log-level", "error", "-log-json=false"}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.node.DataDir != "/flag/data" || s.node.ClientAddr != "127.0.0.1:1003" || s.node.InternalAddr != "127.0.0.1:2003" ||
		s.node.Partitions != 8 || s.node.NodeID != "flag-node" || s.logLevel != slog.LevelError || s.logJSON {
		t.Fatalf("flags: %+v", s)
	}
}

func TestLoadSettings_BadValues(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string // in the error
	}{
		{"no data dir", nil, nil, "", "no data directory"},
		{"flag partitions", []string{"-data", "d", "-partitions", "many"}, nil, "", `flag -partitions="many": want a whole number`},
		{"too many partitions", []string{"-data", "d", "-partitions", "100000"}, nil, "", "Partitions must be"},
		{"env partitions", []string{"-data", "d"}, map[string]string{"ROAM_PARTITIONS": "-"}, "", "ROAM_PARTITIONS"},
		{"log level", []string{"-data", "d", "-log-level", "loud"}, nil, "", "want debug, info, warn or error"},
		{"bad address", []string{"-data", "d", "-client", "nowhere"}, nil, "", "ClientAddr"},
		{"bad node id", []string{"-data", "d", "-node-id", "a/b"}, nil, "", "NodeID"},
		{"stray argument", []string{"-data", "d", "extra"}, nil, "", "unexpected argument"},
		{"missing file", []string{"-data", "d", "-config", "/nonexistent/roam.json"}, nil, "", "config file"},
		{"not json", []string{"-data", "d"}, nil, `data: x`, "want a JSON object"},
		{"json array", []string{"-data", "d"}, nil, `[1]`, "want a JSON object"},
		{"unknown key", []string{"-data", "d"}, nil, `{"max_bodyy": 1}`, `unknown key "max_bodyy"`},
		{"duration without unit", []string{"-data", "d"}, nil, `{"heartbeat": 30}`, `"heartbeat": want a duration`},
		{"object value", []string{"-data", "d"}, nil, `{"client": {"a": 1}}`, "want a string, number or boolean"},
		{"limit out of range", []string{"-data", "d"}, nil, `{"max_body": 0}`, "MaxBody"},
		{"send rate", []string{"-data", "d"}, nil, `{"send_rate": "fast"}`, `"send_rate": want a number`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.file != "" {
				args = append(args, "-config", writeFile(t, c.file))
			}
			_, err := loadSettings(args, env(c.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := loadSettings([]string{"-bogus"}, env(nil), io.Discard); !errors.Is(err, errUsage) {
		t.Fatalf("unknown flag: %v", err)
	}
	if _, err := loadSettings([]string{"-h"}, env(nil), io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestRun_ExitCodes(t *testing.T) {
	if code := run([]string{"-partitions", "x"}, env(nil), io.Discard, io.Discard); code != 2 {
		t.Fatalf("bad settings: exit %d, want 2", code)
	}
	if code := run([]string{"-nope"}, env(nil), io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2", code)
	}
	if code := run([]string{"-h"}, env(nil), io.Discard, io.Discard); code != 0 {
		t.Fatalf("-h: exit %d, want 0", code)
	}
}

// TestRun_ReadyThenSIGTERM starts the daemon in-process, waits for its
// ready line and stops it with SIGTERM, then checks that a restart with a
// different partition count fails with exit code 1.
func TestRun_ReadyThenSIGTERM(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-data", dir, "-client", "127.0.0.1:0", "-internal", "127.0.0.1:0", "-gossip", "127.0.0.1:0", "-partitions", "4", "-log-level", "warn"}
	p := runReady(t, args, io.Discard)
	if r := p.ready; !strings.HasPrefix(r.Node, "n") || !strings.HasPrefix(r.Client, "127.0.0.1:") || !strings.HasPrefix(r.Join, "127.0.0.1:") {
		t.Fatalf("ready line says %+v", r)
	}
	if code, _ := p.sigterm(); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
	var stderr strings.Builder
	args[len(args)-3] = "8" // -partitions
	if code := run(args, env(nil), io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "created with 4 partitions") {
		t.Fatalf("restart with other partitions: exit %d, stderr %q", code, stderr.String())
	}
}

func TestLoadSettings_Roles(t *testing.T) {
	file := writeFile(t, `{"data": "/d", "max_roles": 4, "role_reclaim_after": "1m", "role_rate": 2.5, "role_burst": 7}`)
	s, err := loadSettings([]string{"-config", file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.node.VLR.Roles; r.Max != 4 || r.ReclaimAfter != time.Minute || r.Rate != 2.5 || r.Burst != 7 {
		t.Fatalf("roles: %+v", r)
	}
	if s, err = loadSettings([]string{"-data", "/d"}, env(nil), io.Discard); err != nil || s.node.VLR.Roles.Max != 8 {
		t.Fatalf("default max_roles: %+v, %v", s.node.VLR.Roles, err)
	}
}
