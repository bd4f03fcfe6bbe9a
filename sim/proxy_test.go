package sim

import (
	"bufio"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				rd := bufio.NewReader(c)
				for {
					l, err := rd.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(l))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip says whether a line sent over c comes back.
func roundTrip(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && l == "ping\n"
}

func TestSocketOwnerFindsThisProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	me := os.Getpid()
	if got := socketOwner(s.RemoteAddr(), s.LocalAddr(), []int{1, me}); got != me {
		t.Fatalf("owner = %d, want this process %d", got, me)
	}
	if got := socketOwner(s.RemoteAddr(), s.LocalAddr(), []int{1}); got != 0 {
		t.Fatalf("owner among other pids = %d, want 0", got)
	}
}

func TestProxyBlocksChosenSourcesAndHeals(t *testing.T) {
	target := echoServer(t)
	me := os.Getpid()
	p, err := NewProxy(target, func(pairs [][2]net.Addr) []int { return socketOwners(pairs, []int{me}) })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	open := dial()
	if !roundTrip(open) {
		t.Fatal("no round trip through a healthy proxy")
	}
	p.Block([]int{me + 1000000}) // somebody else: we still pass
	if !roundTrip(open) || !roundTrip(dial()) {
		t.Fatal("blocking another process cut this one")
	}
	p.Block([]int{me})
	if roundTrip(open) {
		t.Fatal("an open connection from a blocked process still works")
	}
	if roundTrip(dial()) {
		t.Fatal("a new connection from a blocked process got through")
	}
	p.Heal()
	if !roundTrip(dial()) {
		t.Fatal("no round trip after Heal")
	}
	p.Cut()
	if roundTrip(dial()) {
		t.Fatal("a connection got through a cut proxy")
	}
}

// TestSocketOwnersResolvesABatch: one call finds the owner of every
// connection of a batch (and 0 for an address nobody holds).
func TestSocketOwnersResolvesABatch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var pairs [][2]net.Addr
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		pairs = append(pairs, [2]net.Addr{s.RemoteAddr(), s.LocalAddr()})
	}
	pairs = append(pairs, [2]net.Addr{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, ln.Addr()})
	me := os.Getpid()
	got := socketOwners(pairs, []int{me})
	for i, pid := range got[:3] {
		if pid != me {
			t.Fatalf("pair %d: owner %d, want %d", i, pid, me)
		}
	}
	if got[3] != 0 {
		t.Fatalf("an address nobody holds has owner %d", got[3])
	}
}
