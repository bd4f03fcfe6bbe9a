package gate

import "sync/atomic"

// Stats are the gate's counters since New. Batches and Frames count both
// directions (requests and one-way items this gate sends, replies it
// returns), so Frames/Batches is the coalescing the writers achieve.
type Stats struct {
	Requests      uint64 // Calls made to other nodes
	RequestErrors uint64 // of those, failed in transport: unreachable, no reply in time, gate closed
	Served        uint64 // requests from other nodes handed to the Handler
	Sent          uint64 // one-way items queued for other nodes (a presence list counts once per frame)
	Received      uint64 // one-way items from other nodes handed to the Handler
	Drops         uint64 // one-way items dropped: queue full, peer unreachable or forgotten, gate closed, or a peer whose level lacks the item's type
	Discarded     uint64 // one-way items received and discarded by Config.DropOneWay (fault injection)
	Batches       uint64 // writes to connections; each carries every frame queued at that moment
	Frames        uint64 // frames written: hellos, requests, replies, one-way items
	MaxBatch      uint64 // most frames carried by one write
	Dials         uint64 // connection attempts
	DialErrors    uint64 // of those, failed
	ConnsLost     uint64 // established outgoing connections that broke
	BadFrames     uint64 // incoming connections closed for a malformed frame
	Impostors     uint64 // incoming connections closed because the hello's node id is not the certificate's
	Peers         int    // destinations known (dialled, or being dialled)
}

// FramesPerBatch is the mean number of frames per write.
func (s Stats) FramesPerBatch() float64 {
	if s.Batches == 0 {
		return 0
	}
	return float64(s.Frames) / float64(s.Batches)
}

type counters struct {
	requests, requestErrors, served, sent, received, drops, discarded  atomic.Uint64
	batches, frames, maxBatch, dials, dialErrors, connsLost, badFrames atomic.Uint64
	impostors                                                          atomic.Uint64
}

// batch records one write of n frames.
func (c *counters) batch(n int) {
	c.batches.Add(1)
	c.frames.Add(uint64(n))
	for {
		m := c.maxBatch.Load()
		if uint64(n) <= m || c.maxBatch.CompareAndSwap(m, uint64(n)) {
			return
		}
	}
}

func (c *counters) snapshot() Stats {
	return Stats{
		Requests:      c.requests.Load(),
		RequestErrors: c.requestErrors.Load(),
		Served:        c.served.Load(),
		Sent:          c.sent.Load(),
		Received:      c.received.Load(),
		Drops:         c.drops.Load(),
		Discarded:     c.discarded.Load(),
		Batches:       c.batches.Load(),
		Frames:        c.frames.Load(),
		MaxBatch:      c.maxBatch.Load(),
		Dials:         c.dials.Load(),
		DialErrors:    c.dialErrors.Load(),
		ConnsLost:     c.connsLost.Load(),
		BadFrames:     c.badFrames.Load(),
		Impostors:     c.impostors.Load(),
	}
}
