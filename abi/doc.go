// Package abi is the libebpf.so ABI as Go values, without cgo: the event types the kernel side
// produces (connect/close, data, L4 statistics, loss notices, process events), the enums they
// carry (Protocol, Role, Direction, ...), the batches events arrive in, and the trace format
// that records them for replay.
//
// The event structs mirror the C structs of include/libebpf.h byte for byte (cgo/libebpf's
// layout test holds them to the C compiler's layout), so the cgo layer decodes each with one
// copy. Everything above the cgo layer — stream reassembly, parsers, aggregation, exporters —
// builds and tests with CGO_ENABLED=0.
package abi
