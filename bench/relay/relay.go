// Package relay is the baseline of the roam benchmarks: a minimal
// goroutine-per-connection TCP relay that forwards length-prefixed frames
// from sender connections to receiver connections, with no batching, no
// storage and no replication. It is the physical limit that roam's figures
// are compared to.
//
// Protocol: a connection first writes its own id (u32, big endian). Then
// every frame is u32 length | u32 destination id | payload, where length
// counts the destination id and the payload. The relay writes the whole
// frame, unchanged, to the connection that announced the destination id.
// A frame sent to id 0 is echoed back to the sender (used to measure a
// connect + round trip).
package relay

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
)

// MaxFrame bounds a frame's length prefix.
const MaxFrame = 64 << 10

type peer struct {
	mu sync.Mutex
	nc net.Conn
}

func (p *peer) write(b []byte) {
	p.mu.Lock()
	p.nc.Write(b)
	p.mu.Unlock()
}

// Server is one relay.
type Server struct {
	mu    sync.RWMutex
	peers map[uint32]*peer
}

// Serve accepts connections on ln until it fails.
func Serve(ln net.Listener) error {
	s := &Server{peers: make(map[uint32]*peer)}
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go s.handle(nc)
	}
}

func (s *Server) handle(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:4]); err != nil {
		return
	}
	id := binary.BigEndian.Uint32(hdr[:4])
	self := &peer{nc: nc}
	if id != 0 {
		s.mu.Lock()
		s.peers[id] = self
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			if s.peers[id] == self {
				delete(s.peers, id)
			}
			s.mu.Unlock()
		}()
	}
	buf := make([]byte, 4096)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n < 4 || n > MaxFrame {
			return
		}
		total := int(n) + 4
		if cap(buf) < total {
			buf = make([]byte, total)
		}
		buf = buf[:total]
		copy(buf, hdr[:])
		if _, err := io.ReadFull(br, buf[8:]); err != nil {
			return
		}
		dest := binary.BigEndian.Uint32(hdr[4:8])
		if dest == 0 {
			self.write(buf)
			continue
		}
		s.mu.RLock()
		p := s.peers[dest]
		s.mu.RUnlock()
		if p != nil {
			p.write(buf)
		}
	}
}
