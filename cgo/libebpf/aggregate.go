package libebpf

/*
#include "bridge.h"
*/
import "C"

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/netobserver/netobserver/abi"
)

// AggCounter indexes the kernel aggregation's counters (include/libebpf.h,
// netobserver_agg_counter): connections that fell back per reason, then the calls pending at a
// fallback, lost or exported.
type AggCounter int

const (
	AggFallbackNotPlain AggCounter = iota
	AggFallbackHead
	AggFallbackExtra
	AggFallbackPipelined
	AggFallbackStatus
	AggFallbackEarly
	AggFallbackUnsolicited
	AggFallbackFull
	AggFallbackLong
	AggLostCalls
	AggPendingExported
	AggNumCounters
)

// AggEntry is one entry of the kernel aggregate map, summed over CPUs (cumulative since init).
type AggEntry struct {
	Conn       abi.ConnID
	Role       abi.Role
	Status     int
	Method     int // 1 GET, 2 POST, 3 PUT, 4 HEAD, 5 PATCH, 6 DELETE, 7 OPTIONS
	Version    int // 0 HTTP/1.0, 1 HTTP/1.1
	Host, Path string
	Count      uint64
	LatencyNs  uint64
	ReqBytes   uint64
	RespBytes  uint64
}

// KernelAggregation turns the kernel aggregation of the protocols in mask (bit p-1 for protocol
// p) on, or off with 0; call it after Open and before Start. It fails when the library lacks the
// extension (ENOSYS) or the loaded hook set has no such mode (EOPNOTSUPP).
func (l *Library) KernelAggregation(mask uint32) error {
	l.call.Lock()
	defer l.call.Unlock()
	if l.c == nil {
		return errClosed
	}
	if rc := C.netobs_kernel_aggregation(l.c, C.uint32_t(mask)); rc < 0 {
		return fmt.Errorf("libebpf: netobserver_kernel_aggregation(%#x): %w", mask, errnoOf(rc))
	}
	return nil
}

// Aggregates reads the kernel aggregate map and the counters (indexed by AggCounter).
func (l *Library) Aggregates() ([]AggEntry, []uint64, error) {
	counters := make([]uint64, AggNumCounters)
	for size := 256; ; size *= 4 {
		keys := make([]C.struct_netobserver_agg_key, size)
		values := make([]C.struct_netobserver_agg_value, size)
		l.call.Lock()
		if l.c == nil {
			l.call.Unlock()
			return nil, nil, errClosed
		}
		n := C.netobs_aggregates(l.c, &keys[0], &values[0], C.int32_t(size),
			(*C.uint64_t)(unsafe.Pointer(&counters[0])), C.int32_t(AggNumCounters))
		l.call.Unlock()
		if n < 0 {
			return nil, nil, fmt.Errorf("libebpf: netobserver_aggregates: %w", errnoOf(n))
		}
		if int(n) > size {
			continue
		}
		out := make([]AggEntry, n)
		for i := range out {
			k, v := &keys[i], &values[i]
			host := C.GoBytes(unsafe.Pointer(&k.host[0]), C.NETOBSERVER_AGG_HOST_MAX)
			path := C.GoBytes(unsafe.Pointer(&k.path[0]), C.NETOBSERVER_AGG_PATH_MAX)
			out[i] = AggEntry{
				Conn:      abi.ConnID{FD: int32(k.conn.fd), TGID: uint32(k.conn.tgid), Start: uint64(k.conn.start)},
				Role:      abi.Role(k.role),
				Status:    int(k.status),
				Method:    int(k.method),
				Version:   int(k.version),
				Host:      string(bytes.TrimRight(host, "\x00")),
				Path:      string(bytes.TrimRight(path, "\x00")),
				Count:     uint64(v.count),
				LatencyNs: uint64(v.latency_ns),
				ReqBytes:  uint64(v.req_bytes),
				RespBytes: uint64(v.resp_bytes),
			}
		}
		return out, counters, nil
	}
}
