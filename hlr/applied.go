package hlr

import "sync"

// appliedIndex is a monotonically increasing index that readers can wait on.
type appliedIndex struct {
	mu   sync.Mutex
	idx  uint64
	wake chan struct{} // closed and replaced on every advance
}

func (a *appliedIndex) init() { a.wake = make(chan struct{}) }

func (a *appliedIndex) get() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.idx
}

func (a *appliedIndex) set(idx uint64) {
	a.mu.Lock()
	a.idx = idx
	close(a.wake)
	a.wake = make(chan struct{})
	a.mu.Unlock()
}

// wait blocks until the index reaches idx (true) or done is closed (false).
func (a *appliedIndex) wait(idx uint64, done <-chan struct{}) bool {
	for {
		a.mu.Lock()
		cur, wake := a.idx, a.wake
		a.mu.Unlock()
		if cur >= idx {
			return true
		}
		select {
		case <-wake:
		case <-done:
			return false
		}
	}
}
