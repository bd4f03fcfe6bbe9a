package sim

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// socketOwner finds which of pids owns the local end of a loopback TCP
// connection whose address, seen from the other end, is remote (the
// dialer's ip:port) and whose peer is local. It reads the kernel's socket
// table (/proc/net/tcp and tcp6) for the socket's inode, then looks for
// that inode among each process's open files. It returns 0 when no
// process in pids owns it (or on any system without /proc).
//
// The partition fault uses it to tell which node opened a connection to a
// node's proxy, so a cut can drop one direction or both for chosen
// nodes.
func socketOwner(remote, local net.Addr, pids []int) int {
	r, ok1 := remote.(*net.TCPAddr)
	l, ok2 := local.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return 0
	}
	inode := ""
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if inode = findInode(table, r, l); inode != "" {
			break
		}
	}
	if inode == "" {
		return 0
	}
	want := "socket:[" + inode + "]"
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && link == want {
				return pid
			}
		}
	}
	return 0
}

// findInode returns the inode of the socket whose local address is a and
// remote address is b, from one /proc/net/tcp* table.
func findInode(table string, a, b *net.TCPAddr) string {
	f, err := os.Open(table)
	if err != nil {
		return ""
	}
	defer f.Close()
	wantL, wantR := procAddr(a, table), procAddr(b, table)
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		if strings.EqualFold(fs[1], wantL) && strings.EqualFold(fs[2], wantR) {
			return fs[9]
		}
	}
	return ""
}

// procAddr renders a as /proc/net/tcp does: the address bytes in host
// (little-endian) order per 32-bit word, then the port, both in hex.
func procAddr(a *net.TCPAddr, table string) string {
	port := strconv.FormatUint(uint64(a.Port), 16)
	port = strings.Repeat("0", 4-len(port)) + port
	if strings.HasSuffix(table, "6") {
		ip := a.IP.To16()
		if ip == nil {
			return ""
		}
		var sb strings.Builder
		for w := 0; w < 16; w += 4 {
			fmt.Fprintf(&sb, "%02X%02X%02X%02X", ip[w+3], ip[w+2], ip[w+1], ip[w])
		}
		return sb.String() + ":" + strings.ToUpper(port)
	}
	ip := a.IP.To4()
	if ip == nil {
		return ""
	}
	return fmt.Sprintf("%02X%02X%02X%02X:%s", ip[3], ip[2], ip[1], ip[0], strings.ToUpper(port))
}
