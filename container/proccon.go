package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The process connector (linux/cn_proc.h): the kernel multicasts a message per fork, exec and
// exit to netlink listeners (CONFIG_PROC_EVENTS, CAP_NET_ADMIN). It says which pid did what, not
// who the process is, so the process is read from /proc as soon as the message arrives — usually
// while it still runs, which reading it at its first call is not for a short-lived client.
const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
	procEventFork     = 0x00000001
	procEventExec     = 0x00000002
	procEventExit     = 0x80000000
	nlmsgHdrLen       = 16
	cnMsgLen          = 20
	procEventHdrLen   = 16 // what, cpu, timestamp_ns
)

// ProcConnector feeds a ProcTable from the process connector: the fallback for a capture library
// without process events (Alibaba's).
type ProcConnector struct {
	fd    int
	table *ProcTable
	fs    Procfs
	stop  atomic.Bool
	done  chan struct{}
}

// ListenProcConnector subscribes to the process connector and feeds t with what fs shows of each
// process that forks or execs, and with exits. Close stops it.
func ListenProcConnector(t *ProcTable, fs Procfs) (*ProcConnector, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("process connector: socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process connector: bind: %w", err)
	}
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(msg[12:], uint32(os.Getpid()))
	binary.NativeEndian.PutUint32(msg[16:], cnIdxProc)
	binary.NativeEndian.PutUint32(msg[20:], cnValProc)
	binary.NativeEndian.PutUint16(msg[32:], 4)
	binary.NativeEndian.PutUint32(msg[36:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process connector: listen: %w", err)
	}
	// A netlink socket cannot be shut down to wake its reader: it wakes on its own to look
	// whether Close was called.
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process connector: receive timeout: %w", err)
	}
	c := &ProcConnector{fd: fd, table: t, fs: fs, done: make(chan struct{})}
	go c.run()
	return c, nil
}

// Close stops listening.
func (c *ProcConnector) Close() {
	c.stop.Store(true)
	<-c.done
	unix.Close(c.fd)
}

func (c *ProcConnector) run() {
	defer close(c.done)
	buf := make([]byte, 1<<16)
	for !c.stop.Load() {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOBUFS) {
				continue // ENOBUFS: messages were dropped; the lookups fall back to /proc
			}
			return
		}
		for msg := buf[:n]; len(msg) >= nlmsgHdrLen; {
			size := int(binary.NativeEndian.Uint32(msg))
			if size < nlmsgHdrLen || size > len(msg) {
				break
			}
			c.handle(msg[nlmsgHdrLen:size])
			msg = msg[(size+3)&^3:]
		}
	}
}

// handle reads one cn_msg carrying a proc_event.
func (c *ProcConnector) handle(m []byte) {
	if len(m) < cnMsgLen+procEventHdrLen+8 || binary.NativeEndian.Uint32(m) != cnIdxProc {
		return
	}
	ev := m[cnMsgLen:]
	what := binary.NativeEndian.Uint32(ev)
	ts := binary.NativeEndian.Uint64(ev[8:]) // ktime_get_ns: the events' monotonic clock
	data := ev[procEventHdrLen:]
	switch what {
	case procEventExec:
		pid, tgid := binary.NativeEndian.Uint32(data), binary.NativeEndian.Uint32(data[4:])
		if pid == tgid {
			c.read(ts, tgid, false)
		}
	case procEventFork:
		if len(data) < 16 {
			return
		}
		pid, tgid := binary.NativeEndian.Uint32(data[8:]), binary.NativeEndian.Uint32(data[12:])
		if pid == tgid { // a new process, not a thread
			c.read(ts, tgid, true)
		}
	case procEventExit:
		pid, tgid := binary.NativeEndian.Uint32(data), binary.NativeEndian.Uint32(data[4:])
		if pid == tgid {
			c.table.ExitPID(ts, tgid)
		}
	}
}

// read learns process pid from /proc right after its fork or exec.
func (c *ProcConnector) read(ts uint64, pid uint32, fork bool) {
	p, err := c.fs.Process(pid)
	if err != nil {
		return // gone already: its lookups fall back to /proc, which cannot do better
	}
	cg, _ := c.fs.Cgroup(pid)
	cmdline, _ := os.ReadFile(filepath.Join(c.fs.root(), strconv.FormatUint(uint64(pid), 10), "cmdline"))
	if fork {
		c.table.Fork(ts, pid, 0, p.StartTime, "", cmdline, cg)
	} else {
		c.table.Exec(ts, pid, 0, p.StartTime, "", cmdline, cg)
	}
}
