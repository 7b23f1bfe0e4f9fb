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

// abi's copies of the header's counters and bounds: a difference does not compile (a negative
// constant converted to uint).
const (
	_ = uint(int(C.NETOBSERVER_AGG_NUM_COUNTERS) - int(abi.AggNumCounters))
	_ = uint(int(abi.AggNumCounters) - int(C.NETOBSERVER_AGG_NUM_COUNTERS))
	_ = uint(int(C.NETOBSERVER_AGG_FB_LONG) - int(abi.AggFallbackLong))
	_ = uint(int(abi.AggFallbackLong) - int(C.NETOBSERVER_AGG_FB_LONG))
	_ = uint(int(C.NETOBSERVER_AGG_FB_UNFINISHED) - int(abi.AggFallbackUnfinished))
	_ = uint(int(abi.AggFallbackUnfinished) - int(C.NETOBSERVER_AGG_FB_UNFINISHED))
	_ = uint(int(C.NETOBSERVER_AGG_PENDING_EXPORTED) - int(abi.AggPendingExported))
	_ = uint(int(abi.AggPendingExported) - int(C.NETOBSERVER_AGG_PENDING_EXPORTED))
	_ = uint(int(C.NETOBSERVER_AGG_PENDING_AT_STOP) - int(abi.AggPendingAtStop))
	_ = uint(int(abi.AggPendingAtStop) - int(C.NETOBSERVER_AGG_PENDING_AT_STOP))
	_ = uint(int(C.NETOBSERVER_AGG_FB_PUSH) - int(abi.AggFallbackPush))
	_ = uint(int(abi.AggFallbackPush) - int(C.NETOBSERVER_AGG_FB_PUSH))
	_ = uint(int(C.NETOBSERVER_AGG_FB_REPLY_END) - int(abi.AggFallbackReplyEnd))
	_ = uint(int(abi.AggFallbackReplyEnd) - int(C.NETOBSERVER_AGG_FB_REPLY_END))
	_ = uint(int(C.NETOBSERVER_AGG_UNANSWERED_REDIS) - int(abi.AggUnansweredRedis))
	_ = uint(int(abi.AggUnansweredRedis) - int(C.NETOBSERVER_AGG_UNANSWERED_REDIS))
	_ = uint(C.NETOBSERVER_AGG_HOST_MAX - abi.AggHostMax)
	_ = uint(abi.AggHostMax - C.NETOBSERVER_AGG_HOST_MAX)
	_ = uint(C.NETOBSERVER_AGG_PATH_MAX - abi.AggPathMax)
	_ = uint(abi.AggPathMax - C.NETOBSERVER_AGG_PATH_MAX)
	_ = uint(C.NETOBSERVER_AGG_HIST_FIRST - abi.AggHistFirst)
	_ = uint(abi.AggHistFirst - C.NETOBSERVER_AGG_HIST_FIRST)
	_ = uint(C.NETOBSERVER_AGG_HIST_BUCKETS - abi.AggHistBuckets)
	_ = uint(abi.AggHistBuckets - C.NETOBSERVER_AGG_HIST_BUCKETS)
)

// aggChunk is how many entries one netobserver_read_aggregates2 call copies (≈ 420 KiB).
const aggChunk = 256

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
		return fmt.Errorf("libebpf: netobserver_kernel_aggregation2(%#x): %w", mask, errnoOf(rc))
	}
	return nil
}

// ReadAggregates calls visit with each entry of the kernel aggregate map, a chunk at a time (the
// entry it is given is reused after it returns), and returns the counters (indexed by
// AggCounter). An error may come after some entries were visited.
func (l *Library) ReadAggregates(visit func(*abi.AggEntry)) ([]uint64, error) {
	counters := make([]uint64, abi.AggNumCounters)
	keys := make([]C.struct_netobserver_agg_key, aggChunk)
	values := make([]C.struct_netobserver_agg_value, aggChunk)
	var after *C.struct_netobserver_agg_key
	var last C.struct_netobserver_agg_key
	var e abi.AggEntry
	for {
		l.call.Lock()
		if l.c == nil {
			l.call.Unlock()
			return nil, errClosed
		}
		n := C.netobs_read_aggregates(l.c, after, &keys[0], &values[0], C.int32_t(aggChunk),
			(*C.uint64_t)(unsafe.Pointer(&counters[0])), C.int32_t(abi.AggNumCounters))
		l.call.Unlock()
		if n < 0 {
			return nil, fmt.Errorf("libebpf: netobserver_read_aggregates2: %w", errnoOf(n))
		}
		for i := range int(n) {
			k, v := &keys[i], &values[i]
			host := C.GoBytes(unsafe.Pointer(&k.host[0]), C.NETOBSERVER_AGG_HOST_MAX)
			path := C.GoBytes(unsafe.Pointer(&k.path[0]), C.NETOBSERVER_AGG_PATH_MAX)
			e.AggKey = abi.AggKey{
				Conn:     abi.ConnID{FD: int32(k.conn.fd), TGID: uint32(k.conn.tgid), Start: uint64(k.conn.start)},
				Role:     abi.Role(k.role),
				Protocol: abi.Protocol(k.protocol),
				Status:   int(k.status),
				Method:   int(k.method),
				Version:  int(k.version),
				Host:     string(bytes.TrimRight(host, "\x00")),
				Path:     string(bytes.TrimRight(path, "\x00")),
			}
			e.Count = uint64(v.count)
			e.LatencyNs = uint64(v.latency_ns)
			e.ReqBytes = uint64(v.req_bytes)
			e.RespBytes = uint64(v.resp_bytes)
			e.Latencies = *(*[abi.AggHistBuckets]uint32)(unsafe.Pointer(&v.latency_hist[0]))
			visit(&e)
		}
		if int(n) < aggChunk {
			return counters, nil
		}
		last = keys[n-1]
		after = &last
	}
}

// DeleteAggregates removes the entries of the kernel aggregate map with these keys; it returns
// how many were there.
func (l *Library) DeleteAggregates(aggKeys []abi.AggKey) (int, error) {
	if len(aggKeys) == 0 {
		return 0, nil
	}
	keys := make([]C.struct_netobserver_agg_key, len(aggKeys))
	for i := range aggKeys {
		e, k := &aggKeys[i], &keys[i]
		k.conn.fd = C.int32_t(e.Conn.FD)
		k.conn.tgid = C.uint32_t(e.Conn.TGID)
		k.conn.start = C.uint64_t(e.Conn.Start)
		k.role = C.uint16_t(e.Role)
		k.protocol = C.uint16_t(e.Protocol)
		k.status = C.uint16_t(e.Status)
		k.method = C.uint8_t(e.Method)
		k.version = C.uint8_t(e.Version)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&k.host[0])), C.NETOBSERVER_AGG_HOST_MAX), e.Host)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&k.path[0])), C.NETOBSERVER_AGG_PATH_MAX), e.Path)
	}
	l.call.Lock()
	defer l.call.Unlock()
	if l.c == nil {
		return 0, errClosed
	}
	n := C.netobs_delete_aggregates(l.c, &keys[0], C.int32_t(len(keys)))
	if n < 0 {
		return 0, fmt.Errorf("libebpf: netobserver_delete_aggregates2: %w", errnoOf(n))
	}
	return int(n), nil
}
