package hlr

import "github.com/roamhq/roam/hist"

// BatchBounds are the bucket bounds of the batch-size histogram: commands
// per Raft entry, 1 to the default MaxBatchCmds.
var BatchBounds = []int64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}

func newBatchHistogram() *hist.Histogram { return hist.New(BatchBounds...) }

// countBatch records an entry of n commands handed to Raft.
func (p *proposer) countBatch(n int) {
	if p.batches != nil {
		p.batches.Observe(int64(n))
	}
}

// BatchSizes returns how many commands each Raft entry proposed by this
// host's partitions (while they led) carried, since the host started: one
// observation per entry, so Sum/Count is the mean batch. The proposer
// packs whatever is waiting into one entry, so batches grow with load.
func (h *Host) BatchSizes() hist.Snapshot { return h.batches.Snapshot() }
