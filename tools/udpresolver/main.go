package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type query struct {
	name  string
	qtype uint16
	label string // NAME/TYPE as given
}

var qtypes = map[string]uint16{"A": 1, "AAAA": 28}

func main() {
	server := flag.String("server", "127.0.0.1:53", "DNS server `host:port`")
	window := flag.Int("window", 32, "queries in flight at most")
	timeout := flag.Duration("timeout", 10*time.Second, "give up on missing answers after `D`")
	flag.Parse()
	queries, err := plan(flag.Args())
	if err == nil && len(queries) > 65536 {
		err = fmt.Errorf("%d queries: transaction ids are 16 bits", len(queries))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "udpresolver: %v\n", err)
		os.Exit(2)
	}
	dst, err := net.ResolveUDPAddr("udp", *server)
	if err != nil {
		fmt.Fprintf(os.Stderr, "udpresolver: %v\n", err)
		os.Exit(2)
	}
	conn, err := net.ListenUDP("udp", nil) // unconnected: sendto and recvfrom
	if err != nil {
		fmt.Fprintf(os.Stderr, "udpresolver: %v\n", err)
		os.Exit(1)
	}
	defer conn.Close()

	answered := make([]bool, len(queries))
	rcodes := make([]int, len(queries))
	slots := make(chan struct{}, *window)
	var mu sync.Mutex
	done := make(chan struct{})
	deadline := time.Now().Add(*timeout)
	go func() { // the reader: one answer frees one slot
		defer close(done)
		buf := make([]byte, 4096)
		got := 0
		conn.SetReadDeadline(deadline)
		for got < len(queries) {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			id := int(binary.BigEndian.Uint16(buf))
			mu.Lock()
			if id < len(queries) && !answered[id] {
				answered[id], rcodes[id] = true, int(buf[3]&0x0f)
				got++
				<-slots
			}
			mu.Unlock()
		}
	}()
	sent := 0
	expired := time.After(time.Until(deadline))
send:
	for id, q := range queries {
		select {
		case slots <- struct{}{}:
		case <-done: // the reader gave up
			break send
		case <-expired:
			break send
		}
		if _, err := conn.WriteTo(message(uint16(id), q), dst); err != nil {
			fmt.Fprintf(os.Stderr, "udpresolver: %v\n", err)
			break
		}
		sent++
	}
	<-done

	mu.Lock()
	defer mu.Unlock()
	type tally struct{ sent, answered, rcode int }
	var order []string
	tallies := map[string]*tally{}
	total := 0
	for id, q := range queries {
		t := tallies[q.label]
		if t == nil {
			t = &tally{rcode: -1}
			tallies[q.label] = t
			order = append(order, q.label)
		}
		if id < sent {
			t.sent++
		}
		if answered[id] {
			t.answered++
			t.rcode = rcodes[id]
			total++
		}
	}
	for _, l := range order {
		name, typ, _ := strings.Cut(l, "/")
		fmt.Printf("%s %s sent %d answered %d rcode %d\n", name, typ, tallies[l].sent, tallies[l].answered, tallies[l].rcode)
	}
	fmt.Printf("sent %d answered %d\n", sent, total)
	if total < len(queries) {
		os.Exit(1)
	}
}

// plan expands NAME/TYPE=COUNT arguments into queries, in order.
func plan(args []string) ([]query, error) {
	if len(args) == 0 {
		return nil, errors.New("no NAME/TYPE=COUNT given")
	}
	var out []query
	for _, a := range args {
		label, count, ok := strings.Cut(a, "=")
		name, typ, ok2 := strings.Cut(label, "/")
		n, err := strconv.Atoi(count)
		qt, known := qtypes[typ]
		if !ok || !ok2 || err != nil || n < 0 || !known || name == "" {
			return nil, fmt.Errorf("%q: want NAME/TYPE=COUNT with TYPE A or AAAA", a)
		}
		for range n {
			out = append(out, query{name: name, qtype: qt, label: label})
		}
	}
	return out, nil
}

// message is a standard query with recursion desired for q.
func message(id uint16, q query) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; QDCOUNT 1
	for _, l := range strings.Split(strings.TrimSuffix(q.name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, q.qtype)
	return binary.BigEndian.AppendUint16(b, 1) // IN
}
