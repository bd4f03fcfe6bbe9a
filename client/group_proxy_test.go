package client

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/roamhq/roam/wire"
)

// frameProxy forwards client connections to a node frame by frame, and
// can lose a reply: with dropNextSendAck set, the next send_ack is not
// forwarded and the connection is closed instead (the server committed
// the send; the client never hears of it). Welcome's nodes name the
// proxy, so that the client reconnects through it.
type frameProxy struct {
	ln              net.Listener
	target          string
	dropNextSendAck atomic.Bool
	dropped         atomic.Int64
	wg              sync.WaitGroup
	mu              sync.Mutex
	conns           map[net.Conn]struct{}
}

func newFrameProxy(t *testing.T, target string) *frameProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &frameProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *frameProxy) addr() string { return p.ln.Addr().String() }

func (p *frameProxy) track(on bool, cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		if on {
			p.conns[c] = struct{}{}
		} else {
			delete(p.conns, c)
		}
	}
}

func (p *frameProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(true, c, u)
		p.wg.Add(2)
		go func() { // client → node, as it is
			defer p.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := u.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			u.Close()
			c.Close()
		}()
		go func() { // node → client, frame by frame
			defer p.wg.Done()
			defer func() {
				c.Close()
				u.Close()
				p.track(false, c, u)
			}()
			rd := wire.NewReader(u, 16<<20)
			for {
				f, err := rd.ReadFrame()
				if err != nil {
					return
				}
				if f.Type == wire.TSendAck && p.dropNextSendAck.CompareAndSwap(true, false) {
					p.dropped.Add(1)
					return
				}
				var out []byte
				if f.Type == wire.TWelcome {
					var w wire.Welcome
					if wire.Decode(f.Body, &w) != nil {
						return
					}
					w.Nodes = []string{p.addr()}
					out, _ = wire.AppendFrame(nil, f.Type, f.RID, &w)
				} else {
					out = wire.AppendRaw(nil, f.Type, f.RID, f.Body)
				}
				if _, err := c.Write(out); err != nil {
					return
				}
			}
		}()
	}
}
