package libebpf

/*
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/netobserver/netobserver/abi"
)

const (
	optProtocolFilter = 0
	optTGIDFilter     = 1
	optSelfFilter     = 2
	optPortFilter     = 3
	optDataSampling   = 4
	optBufferPages    = 5
)

// AllProcesses lifts the TGID filter.
const AllProcesses = -1

func (l *Library) config(opt, opt2 int, value int32) error {
	l.call.Lock()
	defer l.call.Unlock()
	if l.c == nil {
		return errClosed
	}
	C.netobs_config(l.c, C.int32_t(opt), C.int32_t(opt2), C.int32_t(value))
	return nil
}

// SetProtocolFilter chooses which protocols' data events flow. Values other than AllProtocols
// and masks of the ABI's protocols (iLogtail's nine and ours from ProtoHTTP2) are rejected.
func (l *Library) SetProtocolFilter(s abi.ProtocolSet) error {
	if !s.Valid() {
		return fmt.Errorf("libebpf: protocol filter %d is neither -1 nor a bitmask of the ABI's protocols", s)
	}
	return l.config(optProtocolFilter, 0, int32(s))
}

// SetProcessFilter limits capture to one process (TGID_FILTER), whose data then flows for every
// protocol; AllProcesses lifts the limit.
func (l *Library) SetProcessFilter(pid int32) error {
	if pid < AllProcesses {
		return fmt.Errorf("libebpf: process filter %d is neither -1 nor a pid", pid)
	}
	return l.config(optTGIDFilter, 0, pid)
}

// SetSelfFilter names the process whose own traffic is never tracked (SELF_FILTER); -1 for none.
func (l *Library) SetSelfFilter(pid int32) error {
	if pid < -1 {
		return fmt.Errorf("libebpf: self filter %d is neither -1 nor a pid", pid)
	}
	return l.config(optSelfFilter, 0, pid)
}

// SetPortFilter passes PORT_FILTER through; Alibaba's library stores it and never applies it.
func (l *Library) SetPortFilter(port int32) error {
	if port < -1 || port > 65535 {
		return fmt.Errorf("libebpf: port filter %d is neither -1 nor a port", port)
	}
	return l.config(optPortFilter, 0, port)
}

// SetSampling sets the percentage of new connections whose data and control events flow
// (DATA_SAMPLING, 0..100). Unsampled connections still produce L4 stats.
func (l *Library) SetSampling(percent int32) error {
	if percent < 0 || percent > abi.SampleAll {
		return fmt.Errorf("libebpf: sampling %d is outside 0..100", percent)
	}
	return l.config(optDataSampling, 0, percent)
}

// SetBufferPages sets the per-CPU buffer size, in pages, of one event stream for the next Start
// (PERF_BUFFER_PAGE). pages must be a power of two.
func (l *Library) SetBufferPages(which abi.CallbackType, pages int32) error {
	if which > abi.StatsEvents {
		return fmt.Errorf("libebpf: no event stream %d", which)
	}
	if pages <= 0 || pages&(pages-1) != 0 {
		return fmt.Errorf("libebpf: buffer of %d pages for %s events is not a power of two", pages, which)
	}
	return l.config(optBufferPages, int(which), pages)
}

// The control stubs. Each is an empty function in user space that the kernel side watches with a
// uprobe: calling it is how user space changes kernel state.

// UpdateConnAddr gives the kernel side a connection's address (learned from netlink when it had
// family AF_UNKNOWN) and whether to drop the connection's data and control events (ebpf_update_conn_addr).
// An untracked connection becomes tracked.
func (l *Library) UpdateConnAddr(id abi.ConnID, addr abi.SockAddr, localPort uint16, drop bool) error {
	l.call.Lock()
	defer l.call.Unlock()
	if l.c == nil {
		return errClosed
	}
	C.netobs_update_conn_addr(l.c, (*C.struct_connect_id_t)(unsafe.Pointer(&id)),
		(*C.union_sockaddr_t)(unsafe.Pointer(&addr)), C.uint16_t(localPort), C.bool(drop))
	return nil
}

// UpdateConnRole sets the role of a tracked connection (ebpf_update_conn_role).
func (l *Library) UpdateConnRole(id abi.ConnID, role abi.Role) error {
	if role != abi.RoleUnknown && role != abi.RoleClient && role != abi.RoleServer {
		return fmt.Errorf("libebpf: %v is not a role", role)
	}
	l.call.Lock()
	defer l.call.Unlock()
	if l.c == nil {
		return errClosed
	}
	C.netobs_update_conn_role(l.c, (*C.struct_connect_id_t)(unsafe.Pointer(&id)), C.enum_support_role_e(role))
	return nil
}

// DisableProcess stops every event of pid in the kernel (ebpf_disable_process with drop=false,
// the ABI's inverted spelling).
func (l *Library) DisableProcess(pid uint32) error { return l.disableProcess(pid, false) }

// EnableProcess undoes DisableProcess (ebpf_disable_process with drop=true). The kernel side
// honours it only while no process filter is set.
func (l *Library) EnableProcess(pid uint32) error { return l.disableProcess(pid, true) }

func (l *Library) disableProcess(pid uint32, drop bool) error {
	if pid == 0 {
		return errors.New("libebpf: pid 0 cannot be disabled or enabled")
	}
	l.call.Lock()
	defer l.call.Unlock()
	if l.c == nil {
		return errClosed
	}
	C.netobs_disable_process(l.c, C.uint32_t(pid), C.bool(drop))
	return nil
}

// DeleteBatch is the most connections one ebpf_delete_map_value call carries, as iLogtail sent.
const DeleteBatch = 64

// DeleteConnections removes connections from the kernel map, DeleteBatch per call. Only FD and
// TGID of each id matter to the kernel side.
func (l *Library) DeleteConnections(ids []abi.ConnID) error {
	for len(ids) > 0 {
		n := min(len(ids), DeleteBatch)
		l.call.Lock()
		if l.c == nil {
			l.call.Unlock()
			return errClosed
		}
		C.netobs_delete_map_value(l.c, unsafe.Pointer(&ids[0]), C.int32_t(n))
		l.call.Unlock()
		ids = ids[n:]
	}
	return nil
}

func keyOf(k uint64) abi.ConnKey { return abi.ConnKey{TGID: uint32(k >> 32), FD: int32(uint32(k))} }

// maxMapWalk bounds a walk: a key deleted under the walk makes the kernel restart from the first.
const maxMapWalk = 1 << 22

// ConnectionKeys walks the kernel connection map (ebpf_get_fd, ebpf_get_next_key) and returns its
// keys, each once.
func (l *Library) ConnectionKeys() ([]abi.ConnKey, error) {
	l.call.Lock()
	defer l.call.Unlock()
	if l.c == nil {
		return nil, errClosed
	}
	fd := C.netobs_get_fd(l.c)
	if fd < 0 {
		return nil, fmt.Errorf("libebpf: ebpf_get_fd of %s returned %d", l.path, int32(fd))
	}
	var keys []abi.ConnKey
	seen := make(map[uint64]struct{})
	var key, next C.uint64_t
	var cerr C.int
	prev := (*C.uint64_t)(nil)
	for range maxMapWalk {
		if C.netobs_get_next_key(l.c, fd, prev, &next, &cerr) < 0 {
			if syscall.Errno(cerr) == syscall.ENOENT {
				return keys, nil
			}
			return keys, fmt.Errorf("libebpf: ebpf_get_next_key on map fd %d: %w", int32(fd), syscall.Errno(cerr))
		}
		if _, dup := seen[uint64(next)]; dup {
			return keys, nil
		}
		seen[uint64(next)] = struct{}{}
		keys = append(keys, keyOf(uint64(next)))
		key = next
		prev = &key
	}
	return keys, fmt.Errorf("libebpf: connection map of %s did not end after %d keys", l.path, maxMapWalk)
}
