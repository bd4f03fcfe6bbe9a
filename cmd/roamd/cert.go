package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/roamhq/roam/node/pki"
)

// roamd cert: the certificates of operator mode, after CockroachDB's
// cockroach cert. One directory per node holds ca.crt, node.crt and
// node.key; the CA key can live elsewhere (--ca-key).
//
//	roamd cert create-ca   --certs-dir DIR [--lifetime 87600h] [--overwrite]
//	roamd cert create-node --certs-dir DIR --node-id ID [--host h1,h2,...]
//	                       [--ca-key FILE] [--lifetime 17520h] [--overwrite]
//	roamd cert list        --certs-dir DIR

const certUsage = `Usage:
  roamd cert create-ca   --certs-dir DIR [--lifetime 87600h] [--overwrite]
      a new CA: DIR/ca.crt and DIR/ca.key (mode 0600; keep it off the nodes)
  roamd cert create-node --certs-dir DIR --node-id ID [--host h1,h2,...]
                         [--ca-key FILE] [--lifetime 17520h] [--overwrite]
      a certificate for node ID signed by DIR/ca.crt and its key (default
      DIR/ca.key): DIR/node.crt and DIR/node.key (mode 0600). The hosts
      (names and IP addresses clients dial) let it serve the client port too.
  roamd cert list        --certs-dir DIR
      the certificates in DIR, and whether each is signed by DIR/ca.crt

Then start each node with -internal-ca DIR/ca.crt -internal-cert DIR/node.crt
-internal-key DIR/node.key (and -client-cert DIR/node.crt -client-key DIR/node.key).
Existing files are never replaced without --overwrite.
`

func runCert(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, certUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "create-ca":
		err = certCreateCA(args[1:], stdout, stderr)
	case "create-node":
		err = certCreateNode(args[1:], stdout, stderr)
	case "list":
		err = certList(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, certUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "roamd cert: unknown command %q\n\n%s", args[0], certUsage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "roamd cert %s: %v\n", args[0], err)
	return 1
}

// certFlags is a subcommand's flag set with --certs-dir.
func certFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("roamd cert "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, certUsage) }
	dir := fs.String("certs-dir", "", "`DIR` of the certificates")
	return fs, dir
}

func parseCert(fs *flag.FlagSet, args []string, dir *string, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "roamd %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	case *dir == "":
		fmt.Fprintf(stderr, "roamd %s: --certs-dir is required\n", fs.Name())
		return errUsage
	}
	return nil
}

func certCreateCA(args []string, stdout, stderr io.Writer) error {
	fs, dir := certFlags("create-ca", stderr)
	lifetime := fs.Duration("lifetime", 10*365*24*time.Hour, "validity of the CA")
	overwrite := fs.Bool("overwrite", false, "replace existing files")
	if err := parseCert(fs, args, dir, stderr); err != nil {
		return err
	}
	ca, err := pki.NewCA("roam operator CA", *lifetime)
	if err != nil {
		return err
	}
	crt, key, err := pki.WriteCA(*dir, ca, *overwrite)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s (keep the key safe and off the nodes)\n", crt, key)
	return nil
}

func certCreateNode(args []string, stdout, stderr io.Writer) error {
	fs, dir := certFlags("create-node", stderr)
	id := fs.String("node-id", "", "node `ID` the certificate names")
	hosts := fs.String("host", "", "`HOSTS`, comma-separated DNS names and IP addresses clients use")
	caKey := fs.String("ca-key", "", "the CA's key `FILE` (default DIR/ca.key)")
	lifetime := fs.Duration("lifetime", 2*365*24*time.Hour, "validity of the certificate")
	overwrite := fs.Bool("overwrite", false, "replace existing files")
	if err := parseCert(fs, args, dir, stderr); err != nil {
		return err
	}
	if *id == "" {
		fmt.Fprintln(stderr, "roamd cert create-node: --node-id is required")
		return errUsage
	}
	keyPath := *caKey
	if keyPath == "" {
		keyPath = filepath.Join(*dir, pki.CAKeyFile)
	}
	ca, err := pki.LoadCA(filepath.Join(*dir, pki.CACertFile), keyPath)
	if err != nil {
		return err
	}
	var hs []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	cert, err := pki.IssueNode(ca, *id, hs, *lifetime)
	if err != nil {
		return err
	}
	crt, key, err := pki.WriteNode(*dir, cert, *overwrite)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s for node %s (hosts: %s)\n", crt, key, *id, strings.Join(hs, ","))
	return nil
}

func certList(args []string, stdout, stderr io.Writer) error {
	fs, dir := certFlags("list", stderr)
	if err := parseCert(fs, args, dir, stderr); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(*dir, "*.crt"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no *.crt files in %s", *dir)
	}
	sort.Strings(files)
	ca, caErr := pki.LoadCA(filepath.Join(*dir, pki.CACertFile), "")
	for _, f := range files {
		certs, err := pki.ReadCertificates(f)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", filepath.Base(f), err)
			continue
		}
		c := certs[0]
		kind := "node"
		if c.IsCA {
			kind = "CA"
		}
		fmt.Fprintf(stdout, "%s: %s %q", filepath.Base(f), kind, c.Subject.CommonName)
		if id, err := pki.NodeID(c); err == nil {
			fmt.Fprintf(stdout, ", node id %s", id)
		}
		var hosts []string
		hosts = append(hosts, c.DNSNames...)
		for _, ip := range c.IPAddresses {
			hosts = append(hosts, ip.String())
		}
		if len(hosts) > 0 {
			fmt.Fprintf(stdout, ", hosts %s", strings.Join(hosts, ","))
		}
		fmt.Fprintf(stdout, ", valid %s to %s", c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly))
		switch now := time.Now(); {
		case now.After(c.NotAfter):
			fmt.Fprint(stdout, " (EXPIRED)")
		case now.Before(c.NotBefore):
			fmt.Fprint(stdout, " (not yet valid)")
		}
		if !c.IsCA {
			switch {
			case caErr != nil:
				fmt.Fprintf(stdout, ", issuer %q (no %s to check)", c.Issuer.CommonName, pki.CACertFile)
			case c.CheckSignatureFrom(ca.Cert) == nil:
				fmt.Fprintf(stdout, ", signed by %s", pki.CACertFile)
			default:
				fmt.Fprintf(stdout, ", NOT signed by %s (issuer %q)", pki.CACertFile, c.Issuer.CommonName)
			}
		}
		fmt.Fprintln(stdout)
	}
	if _, err := os.Stat(filepath.Join(*dir, pki.CAKeyFile)); err == nil {
		fmt.Fprintf(stdout, "note: %s is here; it should not be on a node\n", pki.CAKeyFile)
	}
	return nil
}
