package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/roamhq/roam/node/backup"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/pki"
)

// roamd backup and roamd restore: a consistent snapshot of every
// partition, from each partition's leader, to a directory; and that
// directory into a new cluster (package node/backup).
//
//	roamd backup  -peer HOST:PORT[,...] -dir DIR (-cluster-key-file F | -internal-ca ... -internal-cert ... -internal-key ...)
//	roamd restore -peer HOST:PORT[,...] -dir DIR (the same credentials, of the new cluster)

const backupUsage = `Usage:
  roamd backup  -peer ADDR[,ADDR...] -dir DIR CREDENTIALS
      writes every partition's snapshot, taken by its leader, to DIR
      (DIR/p0000.snap ... and DIR/manifest.json with sizes and SHA-256s)
  roamd restore -peer ADDR[,ADDR...] -dir DIR CREDENTIALS
      loads the backup in DIR into a new cluster (same partition count,
      every partition empty); the files are checked before anything is sent

ADDR is a node's internal address (-internal); the other nodes are learned
from it. CREDENTIALS are the cluster's internal-port trust, as for roamd:
  -cluster-key-file FILE      a cluster with the default (derived) trust, or
  -internal-ca CA -internal-cert CERT -internal-key KEY
                              an operator-mode cluster: a certificate made with
                              roamd cert create-node --node-id backup-tool
`

func runBackup(restore bool, args []string, stdout, stderr io.Writer) int {
	name := "backup"
	if restore {
		name = "restore"
	}
	fs := flag.NewFlagSet("roamd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, backupUsage) }
	peers := fs.String("peer", "", "internal `ADDR`esses of one or more nodes, comma-separated")
	dir := fs.String("dir", "", "the backup `DIR`ectory")
	keyFile := fs.String("cluster-key-file", "", "the cluster key `FILE` (default trust)")
	caFile := fs.String("internal-ca", "", "operator mode: the cluster CA certificate `FILE`")
	certFile := fs.String("internal-cert", "", "operator mode: this tool's certificate `FILE`")
	keyPEM := fs.String("internal-key", "", "operator mode: this tool's key `FILE`")
	timeout := fs.Duration("partition-timeout", 10*time.Minute, "bound for each partition")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "roamd %s: unexpected argument %q\n\n%s", name, fs.Arg(0), backupUsage)
		return 2
	}
	cfg := backup.DefaultConfig()
	cfg.Dir, cfg.PartitionTimeout, cfg.Progress = *dir, *timeout, stdout
	for _, p := range strings.Split(*peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.Peers = append(cfg.Peers, p)
		}
	}
	sec, err := backupSecurity(*keyFile, *caFile, *certFile, *keyPEM, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "roamd %s: %v\n", name, err)
		return 2
	}
	cfg.Security = sec
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "roamd %s: %v\n\n%s", name, err, backupUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	start := time.Now()
	var m *backup.Manifest
	if restore {
		m, err = backup.Restore(ctx, cfg)
	} else {
		m, err = backup.Backup(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "roamd %s: %v\n", name, err)
		return 1
	}
	var total int64
	for _, p := range m.Parts {
		total += p.Size
	}
	verb := "backed up to"
	if restore {
		verb = "restored from"
	}
	fmt.Fprintf(stdout, "roamd: %d partitions (%d bytes) of cluster %s %s %s in %v\n", m.Partitions, total, m.Cluster, verb, cfg.Dir, time.Since(start).Round(time.Millisecond))
	return 0
}

// backupSecurity builds the tool's internal-port identity from the
// cluster key file or the operator's files.
func backupSecurity(keyFile, ca, cert, key string, stderr io.Writer) (mux.Security, error) {
	switch n := countSet(ca, cert, key); {
	case n > 0 && keyFile != "":
		return mux.Security{}, errors.New("give -cluster-key-file or the operator files, not both")
	case n == 3:
		id, err := pki.LoadIdentity(ca, cert, key)
		if err != nil {
			return mux.Security{}, fmt.Errorf("internal certificate: %w", err)
		}
		return mux.Security{Identity: id}, nil
	case n > 0:
		return mux.Security{}, errors.New("operator mode needs all three of -internal-ca, -internal-cert and -internal-key")
	case keyFile == "":
		return mux.Security{}, errors.New("no credentials: give -cluster-key-file (or the operator files)")
	}
	k, err := readKeyFile(keyFile, stderr)
	if err != nil {
		return mux.Security{}, err
	}
	id, err := pki.Derived(k, "backup-tool")
	if err != nil {
		return mux.Security{}, err
	}
	return mux.Security{Identity: id}, nil
}
