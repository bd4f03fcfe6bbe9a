package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/roamhq/roam/hlr"
)

// ManifestFile is the name of a backup directory's manifest.
const ManifestFile = "manifest.json"

// manifestVersion is the format of the manifest and the partition files.
const manifestVersion = 1

// Manifest describes a backup directory: one file per partition, each the
// snapshot stream of that partition's leader.
type Manifest struct {
	Version    int       `json:"version"`
	Cluster    string    `json:"cluster"`
	Partitions int       `json:"partitions"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Parts      []Part    `json:"parts"`
}

// Part is one partition's file.
type Part struct {
	hlr.BackupMeta
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	From   string `json:"from"` // the leader's internal address
}

func partFile(pid uint16) string { return fmt.Sprintf("p%04d.snap", pid) }

func (m *Manifest) write(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ManifestFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ManifestFile))
}

// ReadManifest reads and checks dir's manifest: every partition present
// once, each file named as it should be.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("backup: %w (is %s a complete backup?)", err, dir)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("backup: %s: %w", ManifestFile, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("backup: %s: version %d, this build reads %d", ManifestFile, m.Version, manifestVersion)
	}
	if m.Partitions <= 0 || len(m.Parts) != m.Partitions {
		return nil, fmt.Errorf("backup: %s lists %d partition files for %d partitions", ManifestFile, len(m.Parts), m.Partitions)
	}
	for i, p := range m.Parts {
		if int(p.Partition) != i || p.File != partFile(p.Partition) || p.Size < 0 {
			return nil, errors.New("backup: " + ManifestFile + ": partition files out of order or misnamed")
		}
	}
	return &m, nil
}
