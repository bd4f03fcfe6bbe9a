package roamdproc

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// FreeAddrs picks k distinct free loopback ports (TCP and UDP), below the
// kernel's ephemeral range when it can: a node started on ports picked
// in advance (to keep them across restarts) can lose a port in the
// ephemeral range, before it starts or while it is down, to the local
// port of some outgoing connection (a simulator or a test opens
// thousands), which makes the start fail. The listeners stay
// open until all k are picked, so no port is handed out twice.
func FreeAddrs(k int) ([]string, error) {
	lo := ephemeralLow()
	var out []string
	for i := 0; i < k; i++ {
		var ln net.Listener
		var err error
		for try := 0; try < 50 && lo > 11000; try++ {
			addr := fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(lo-10000))
			if ln, err = net.Listen("tcp", addr); err != nil {
				continue
			}
			pc, err := net.ListenPacket("udp", addr) // gossip uses UDP too
			if err == nil {
				defer pc.Close()
				break
			}
			ln.Close()
			ln = nil
		}
		if ln == nil {
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return nil, err
			}
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 {
		return 32768
	}
	return lo
}
