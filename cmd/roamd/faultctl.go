package main

import (
	"log/slog"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/faultctl"
)

// faultControl is roamd -fault-control ADDR: the simulator's endpoint for
// dropping gate items and resetting gate connections inside this process
// (package node/faultctl). A nil *faultControl is off and does nothing.
type faultControl struct{ srv *faultctl.Server }

// startFaultControl starts the endpoint when addr is set and hooks its
// drop rule into the node's gate; it must run before node.New.
func startFaultControl(addr string, logger *slog.Logger, nc *node.Config) (*faultControl, error) {
	if addr == "" {
		return nil, nil
	}
	srv, err := faultctl.New(faultctl.Config{Addr: addr, Logger: logger})
	if err != nil {
		return nil, err
	}
	nc.GateDropOneWay = srv.DropOneWay
	return &faultControl{srv}, nil
}

// attach hands the running node (nil if it failed to start) to the
// endpoint.
func (f *faultControl) attach(n *node.Node) {
	if f != nil && n != nil {
		f.srv.Attach(n)
	}
}

// Close stops the endpoint.
func (f *faultControl) Close() {
	if f != nil {
		f.srv.Close()
	}
}
