//go:build ignore

// strace2vec turns `strace -ff -ttt -yy -xx -s 65535` output into the capture format of this
// directory: one line per socket syscall on the DNS port, in time order,
//
//	<side> <syscall> <send|recv> <hex> [<hex>...]
//
// with one hex field per iovec segment (or one for read/write/sendto/recvfrom). It is a tool for
// capture.sh, not part of the tests.
//
// Usage: go run strace2vec.go -side server -port 15353 -from T0 -to T1 trace-files...
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	side = flag.String("side", "client", "label of the traced side: client or server")
	port = flag.Int("port", 15353, "DNS server port; only sockets whose strace -yy description has it (0: every UDP/TCP socket, for the client, whose connected UDP socket strace describes by its local address only)")
	from = flag.Float64("from", 0, "only syscalls at or after this unix time")
	to   = flag.Float64("to", 1e12, "only syscalls before this unix time")
)

// line: "<time> <syscall>(<fd><UDP:[...]>, <rest>) = <ret>"
var lineRE = regexp.MustCompile(`^(\d+\.\d+) (\w+)\((\d+)<(UDP|TCP|UDPv6|TCPv6):\[([^\]]*)\]>, (.*)\) += (\d+)$`)

// A quoted string of \xNN escapes, as -xx prints every byte.
var strRE = regexp.MustCompile(`"((?:\\x[0-9a-f]{2})*)"`)
var iovRE = regexp.MustCompile(`iov_base="((?:\\x[0-9a-f]{2})*)"`)

type rec struct {
	t    float64
	text string
}

func main() {
	flag.Parse()
	var out []rec
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			m := lineRE.FindStringSubmatch(sc.Text())
			if m == nil || *port != 0 && !strings.Contains(m[5], ":"+strconv.Itoa(*port)) {
				continue
			}
			t, _ := strconv.ParseFloat(m[1], 64)
			if t < *from || t >= *to {
				continue
			}
			call, rest := m[2], m[6]
			var dir string
			var segs []string
			switch call {
			case "read", "recvfrom", "write", "sendto":
				if s := strRE.FindStringSubmatch(rest); s != nil {
					segs = []string{s[1]}
				}
			case "readv", "writev", "recvmsg", "sendmsg", "sendmmsg", "recvmmsg":
				for _, s := range iovRE.FindAllStringSubmatch(rest, -1) {
					segs = append(segs, s[1])
				}
			default:
				continue
			}
			switch call {
			case "read", "recvfrom", "readv", "recvmsg", "recvmmsg":
				dir = "recv"
			default:
				dir = "send"
			}
			var hexes []string
			for _, s := range segs {
				h := strings.ReplaceAll(s, `\x`, "")
				if h != "" {
					hexes = append(hexes, h)
				}
			}
			if len(hexes) == 0 {
				continue
			}
			out = append(out, rec{t, fmt.Sprintf("%s %s %s %s", *side, call, dir, strings.Join(hexes, " "))})
		}
		f.Close()
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].t < out[j].t })
	for _, r := range out {
		fmt.Println(r.text)
	}
}
