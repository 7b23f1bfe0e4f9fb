// Package detect runs the kernel side's protocol detection (bpf/detect.h, the code the BPF
// programs run) in user space, for its tests and its fuzz target: Classify is detect() and
// tls_hello() on one buffer, Conn feeds them as data_main does a connection's syscalls.
package detect

/*
#cgo CFLAGS: -O2 -Wall -Wextra -Werror
#include "harness.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/netobserver/netobserver/abi"
)

// MaxBuf is the largest buffer Classify takes.
const MaxBuf = C.HARNESS_MAX_BUF

// Input is what detect() knows besides the buffer.
type Input struct {
	// LengthHeader and LHPending: a 4-byte read came just before (MySQL's and Kafka's servers
	// read a packet's length alone).
	LengthHeader uint32
	LHPending    bool
	// Len2 is the value of a 2-byte length read just before (DNS over TCP servers), 0 if none.
	Len2  uint16
	Dgram bool
	// First: the buffer starts its direction of the connection.
	First bool
	// Pad, when not -1, fills the head's bytes after the buffer (zero in the kernel) with this
	// value: detect() must not depend on them.
	Pad int
}

// Result is detect()'s verdict: the protocol and message type, or TLS (tls_hello matched; the
// kernel then stops looking at the connection's bytes).
type Result struct {
	Proto abi.Protocol
	Type  abi.MessageType
	TLS   bool
}

func (r Result) String() string {
	if r.TLS {
		return "tls"
	}
	return fmt.Sprintf("%v/%v", r.Proto, r.Type)
}

var mu sync.Mutex

// Classify runs tls_hello() and detect() on buf (1 to MaxBuf bytes) as data_main does on a
// syscall's first segment.
func Classify(buf []byte, in Input) Result {
	if len(buf) == 0 || len(buf) > MaxBuf {
		panic(fmt.Sprintf("detect: Classify of %d bytes", len(buf)))
	}
	cin := C.struct_harness_in{
		length_header: C.u32(in.LengthHeader),
		lh_pending:    C.u8(b2i(in.LHPending)),
		len2:          C.u16(in.Len2),
		dgram:         C.u8(b2i(in.Dgram)),
		first:         C.u8(b2i(in.First)),
		pad:           C.int(in.Pad),
	}
	var out C.struct_harness_out
	mu.Lock()
	C.harness_classify((*C.u8)(unsafe.Pointer(&buf[0])), C.u64(len(buf)), &cin, &out)
	mu.Unlock()
	return Result{Proto: abi.Protocol(out.proto), Type: abi.MessageType(out._type), TLS: out.tls != 0}
}

// DNSHeader is dns_header() on the first 12 bytes of h.
func DNSHeader(h []byte) bool {
	if len(h) < 12 {
		panic("detect: DNSHeader of fewer than 12 bytes")
	}
	return C.harness_dns_header((*C.u8)(unsafe.Pointer(&h[0]))) != 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
