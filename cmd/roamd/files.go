package main

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/roamhq/roam/node/pki"
)

// readFiles reads the key and certificate files the settings name into
// the node's configuration, with messages that say which file is wrong.
func (s *settings) readFiles(stderr io.Writer) error {
	if s.keyFile != "" {
		if len(s.node.ClusterKey) != 0 {
			return errors.New("give the cluster key once: -cluster-key-file or -cluster-key, not both")
		}
		k, err := readKeyFile(s.keyFile, stderr)
		if err != nil {
			return err
		}
		s.node.ClusterKey = k
	}

	if n := countSet(s.internalCA, s.internalCert, s.internalKey); n > 0 {
		if n < 3 {
			return errors.New("operator mode needs all three of -internal-ca, -internal-cert and -internal-key")
		}
		if s.node.InsecureInternalPlaintext {
			return errors.New("-insecure-internal-plaintext and -internal-ca exclude each other")
		}
		id, err := pki.LoadIdentity(s.internalCA, s.internalCert, s.internalKey)
		if err != nil {
			return fmt.Errorf("internal certificate: %w", err)
		}
		if s.node.NodeID != "" && id.NodeID() != s.node.NodeID {
			return fmt.Errorf("-internal-cert %s is for node %q, but this node is -node-id %q: issue it with roamd cert create-node --node-id %s",
				s.internalCert, id.NodeID(), s.node.NodeID, s.node.NodeID)
		}
		s.node.InternalIdentity = id
	}

	if n := countSet(s.clientCert, s.clientKey); n > 0 {
		if n < 2 {
			return errors.New("TLS on the client port needs both -client-cert and -client-key")
		}
		cert, err := tls.LoadX509KeyPair(s.clientCert, s.clientKey)
		if err != nil {
			return fmt.Errorf("client certificate %s: %w", s.clientCert, err)
		}
		s.node.ClientCert = &cert
	}
	return nil
}

// readKeyFile reads a base64 cluster key, warning when others may read
// the file.
func readKeyFile(path string, stderr io.Writer) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cluster key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "roamd: warning: cluster key file %s has mode %v: whoever reads it can join the cluster; chmod 600 it\n", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster key file: %w", err)
	}
	k, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
		return nil, fmt.Errorf("cluster key file %s: want base64 of 16, 24 or 32 bytes", path)
	}
	return k, nil
}

func countSet(v ...string) int {
	n := 0
	for _, s := range v {
		if s != "" {
			n++
		}
	}
	return n
}
