package observer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/container/netlink"
)

// control is the stage that tells the kernel side what the others decided: processes to switch
// off or on, connections to drop, addresses and roles netlink found. The per-event stages only
// queue; perform makes the calls after each batch, so no event waits for a control syscall.
// It also runs the connection map's collection, on its own interval.
type control struct {
	lib      Control
	procRoot string
	queue    []kernelCall
	counts   *Counters
}

type callKind uint8

const (
	disableProcess callKind = iota
	enableProcess
	dropConnection // UpdateConnAddr with drop
	pushSocket     // netlink's address (and role) of a connection
	pushRole       // netlink's role of a connection whose address the kernel side knows
)

// kernelCall is one call queued for the kernel side.
type kernelCall struct {
	kind callKind
	pid  uint32
	id   abi.ConnID
	addr abi.SockAddr
	sock netlink.Socket
	role abi.Role
	drop bool
}

func (c *control) disableProcess(pid uint32) {
	c.queue = append(c.queue, kernelCall{kind: disableProcess, pid: pid})
}

func (c *control) enableProcess(pid uint32) {
	c.queue = append(c.queue, kernelCall{kind: enableProcess, pid: pid})
}

func (c *control) dropConnection(id abi.ConnID, addr abi.SockAddr) {
	c.queue = append(c.queue, kernelCall{kind: dropConnection, id: id, addr: addr})
}

func (c *control) pushSocket(id abi.ConnID, sock netlink.Socket, drop bool) {
	c.queue = append(c.queue, kernelCall{kind: pushSocket, id: id, sock: sock, drop: drop})
}

func (c *control) pushRole(id abi.ConnID, role abi.Role) {
	c.queue = append(c.queue, kernelCall{kind: pushRole, id: id, role: role})
}

// perform makes the queued calls in the order they were decided. A failed call is not retried:
// they only fail once the library is closed.
func (c *control) perform() {
	for i := range c.queue {
		k := &c.queue[i]
		switch k.kind {
		case disableProcess:
			c.lib.DisableProcess(k.pid)
		case enableProcess:
			c.lib.EnableProcess(k.pid)
		case dropConnection:
			c.lib.UpdateConnAddr(k.id, k.addr, 0, true)
		case pushSocket:
			if k.sock.Push(c.lib, k.id, k.drop) == nil {
				c.counts.Resolved++
			}
		case pushRole:
			if c.lib.UpdateConnRole(k.id, k.role) == nil {
				c.counts.Resolved++
			}
		}
	}
	clear(c.queue)
	c.queue = c.queue[:0]
}

// collect deletes the kernel map's entries whose process or fd is gone, as iLogtail did every
// 300 s, DeleteBatch at a time, and returns the connections left in the map (ok false when the
// map could not be read or cleaned).
func (c *control) collect() (alive []abi.ConnKey, ok bool) {
	keys, err := c.lib.ConnectionKeys()
	if err != nil {
		return nil, false
	}
	var gone []abi.ConnID
	for _, k := range keys {
		fd := filepath.Join(c.procRoot, strconv.FormatUint(uint64(k.TGID), 10), "fd", strconv.FormatInt(int64(k.FD), 10))
		if _, err := os.Lstat(fd); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, abi.ConnID{FD: k.FD, TGID: k.TGID})
		} else {
			alive = append(alive, k)
		}
	}
	if c.lib.DeleteConnections(gone) != nil {
		return nil, false
	}
	c.counts.Collected += uint64(len(gone))
	return alive, true
}
