package netlink

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// A diag socket is a NETLINK_SOCK_DIAG socket bound to one network namespace. A netlink socket
// answers for the namespace it was created in, whatever namespace the thread that later uses it
// is in, so setns is needed only once, to create it; the dumps then run on any goroutine.
type diagSock struct {
	fd    int
	seq   uint32
	buf   []byte
	recvs int // datagrams received, for tests: a large dump must span several
}

// recvTimeout bounds one recvmsg, so that a kernel that never ends a dump cannot wedge the caller.
const recvTimeout = 5 * time.Second

// recvBufSize holds the largest datagram a dump sends (the kernel fills skbs of at most 32 KiB
// for dumps; 64 KiB leaves room for a larger page size).
const recvBufSize = 64 << 10

// newDiagSock creates a sock_diag socket in the calling thread's network namespace.
func newDiagSock() (*diagSock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(recvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink socket timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &diagSock{fd: fd, buf: make([]byte, recvBufSize)}, nil
}

// newDiagSockIn creates a sock_diag socket in the network namespace of the open nsfs file nsFD.
// The setns happens on a goroutine of its own, locked to its thread; the thread returns to the
// namespace it came from before it is unlocked. If it cannot return, the goroutine exits still
// locked, and the Go runtime then destroys the thread instead of reusing it in the wrong namespace.
func newDiagSockIn(nsFD int) (*diagSock, error) {
	type result struct {
		s   *diagSock
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("open own netns: %w", err)}
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		s, err := newDiagSock()
		if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
			if s != nil {
				s.close()
			}
			ch <- result{err: fmt.Errorf("setns back to own netns: %w (thread discarded)", rerr)}
			return // still locked: the runtime kills this thread
		}
		runtime.UnlockOSThread()
		ch <- result{s, err}
	}()
	r := <-ch
	return r.s, r.err
}

func (s *diagSock) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// errDumpIntr reports a dump the kernel flagged as inconsistent twice in a row.
var errDumpIntr = errors.New("sock_diag dump interrupted (NLM_F_DUMP_INTR)")

// dump sends one dump request (built by req for a sequence number) and hands each
// SOCK_DIAG_BY_FAMILY payload to fn. A dump flagged inconsistent is retried once, with reset
// called first to drop what the first attempt collected.
func (s *diagSock) dump(req func(seq uint32) []byte, reset func(), fn func(payload []byte) error) error {
	for attempt := 0; ; attempt++ {
		s.seq++
		intr, err := s.dumpOnce(req(s.seq), s.seq, fn)
		if err != nil {
			return err
		}
		if !intr {
			return nil
		}
		if attempt == 1 {
			return errDumpIntr
		}
		reset()
	}
}

func (s *diagSock) dumpOnce(req []byte, seq uint32, fn func(payload []byte) error) (intr bool, err error) {
	if err := unix.Sendto(s.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, fmt.Errorf("netlink send: %w", err)
	}
	for {
		n, _, flags, from, err := unix.Recvmsg(s.fd, s.buf, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("netlink receive: %w", err)
		}
		s.recvs++
		if flags&unix.MSG_TRUNC != 0 {
			return false, fmt.Errorf("netlink datagram larger than %d bytes", len(s.buf))
		}
		// Only the kernel (port id 0) answers; anything else on the socket is not ours to parse.
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue
		}
		done, in, err := parseMessages(s.buf[:n], seq, fn)
		intr = intr || in
		if err != nil {
			return intr, err
		}
		if done {
			return intr, nil
		}
	}
}

// nsInode returns the inode of an nsfs file, the identity of a namespace.
func nsInode(fd int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// openNetns opens the network namespace file of a process and returns it with its inode.
func openNetns(procRoot string, tgid uint32) (fd int, ino uint64, err error) {
	path := fmt.Sprintf("%s/%d/ns/net", procRoot, tgid)
	fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	ino, err = nsInode(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	return fd, ino, nil
}
