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
// dialer's ip:port) and whose peer is local; see socketOwners.
func socketOwner(remote, local net.Addr, pids []int) int {
	return socketOwners([][2]net.Addr{{remote, local}}, pids)[0]
}

// socketOwners finds, for each (remote, local) pair, which of pids owns
// the socket whose local address is remote and whose peer is local (0:
// none, or a system without /proc). It reads the kernel's socket tables
// (/proc/net/tcp and tcp6) once for the sockets' inodes, then each
// process's open files once, whatever the number of pairs.
//
// The partition fault uses it to tell which node opened a connection to a
// node's proxy, so a cut can drop one direction or both for chosen
// nodes.
func socketOwners(pairs [][2]net.Addr, pids []int) []int {
	out := make([]int, len(pairs))
	inodes := make([]string, len(pairs))
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		want := map[string][]int{} // "local remote" as the table writes it -> pair indexes
		for i, pr := range pairs {
			r, ok1 := pr[0].(*net.TCPAddr)
			l, ok2 := pr[1].(*net.TCPAddr)
			if !ok1 || !ok2 || inodes[i] != "" {
				continue
			}
			k := strings.ToUpper(procAddr(r, table) + " " + procAddr(l, table))
			want[k] = append(want[k], i)
		}
		if len(want) > 0 {
			scanTable(table, want, inodes)
		}
	}
	byInode := map[string][]int{}
	for i, ino := range inodes {
		if ino != "" {
			byInode["socket:["+ino+"]"] = append(byInode["socket:["+ino+"]"], i)
		}
	}
	if len(byInode) == 0 {
		return out
	}
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			link, err := os.Readlink(dir + "/" + e.Name())
			if err != nil {
				continue
			}
			for _, i := range byInode[link] {
				out[i] = pid
			}
		}
	}
	return out
}

// scanTable reads one /proc/net/tcp* table and sets inodes[i] for every
// pair index i wanted under the line's "local remote" key.
func scanTable(table string, want map[string][]int, inodes []string) {
	f, err := os.Open(table)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		for _, i := range want[strings.ToUpper(fs[1]+" "+fs[2])] {
			inodes[i] = fs[9]
		}
	}
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
