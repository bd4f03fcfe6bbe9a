package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// State is what the CLI keeps between runs, in a JSON file readable only
// by its owner (mode 0600): where the cluster is, who is logged in on
// this device, the session token (rotated on every resume), the inbox
// cursor (the last message printed) and the same per group.
type State struct {
	Addrs  []string          `json:"addrs,omitempty"`
	Nodes  []string          `json:"nodes,omitempty"` // the nodes the last session knew (welcome, redirects), tried after Addrs
	User   string            `json:"user,omitempty"`
	Device string            `json:"device,omitempty"`
	Token  []byte            `json:"token,omitempty"` // base64 in the file
	Cursor uint64            `json:"cursor,omitempty"`
	Groups map[string]uint64 `json:"groups,omitempty"` // group → the last entry printed (group.go)
	// The role the session picked (role.go), picked again after each resume.
	RoleNS string      `json:"role_ns,omitempty"`
	Role   string      `json:"role,omitempty"`
	Scene  *SceneState `json:"scene,omitempty"` // the scene and position (scene.go)
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (State, error) {
	var st State
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("state file %s: %w", path, err)
	}
	return st, nil
}

// saveState writes the state file atomically (a temporary file in the
// same directory, synced, then renamed over the old one) with mode 0600;
// the directory is created with mode 0700 if needed.
func saveState(path string, st State) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".roam-state-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
