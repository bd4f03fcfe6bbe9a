package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/roamhq/roam/client"
)

// tlsConfig returns the TLS settings of the connection to the nodes: nil
// for --plaintext (or ROAM_PLAINTEXT=1), else TLS 1.3 verified against
// --ca (or ROAM_CA), or the system's roots, or nothing with --insecure.
func (a *app) tlsConfig() (*tls.Config, error) {
	if a.plaintext || envTrue(a.getenv("ROAM_PLAINTEXT")) {
		return nil, nil // ROAM_CA, if exported, does not apply
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	ca := a.caFlag
	if ca == "" {
		ca = a.getenv("ROAM_CA")
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", ca)
		}
		cfg.RootCAs = pool
	}
	if a.insecure {
		fmt.Fprintln(a.stderr, "roam: warning: --insecure: the node's certificate is not verified; anyone on the path can read and change the session")
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

func envTrue(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// tlsHint adds what to do to the usual TLS failures of a dial.
func tlsHint(err error, usedTLS bool) error {
	if !usedTLS {
		if errors.Is(err, client.ErrConnLost) {
			return fmt.Errorf("%w (if the node speaks TLS, drop --plaintext / ROAM_PLAINTEXT)", err)
		}
		return err
	}
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var rhe tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (give the cluster's CA certificate with --ca FILE or ROAM_CA)", err)
	case errors.As(err, &hostErr):
		return fmt.Errorf("%w (connect with a name the certificate lists)", err)
	case errors.As(err, &rhe), strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return fmt.Errorf("%w (the node does not speak TLS; use --plaintext if you trust the network)", err)
	}
	return err
}
