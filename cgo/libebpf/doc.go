// Package libebpf (directory cgo/libebpf) loads libebpf.so — iLogtail's network observer library,
// ours, or the replay library — and is the only package with cgo. It finds and checks the file,
// resolves its symbols, configures and controls the library, and hands its events to Go a batch per
// poll, never one by one: Poll runs one ebpf_poll_events and hands every event of the C batch to an
// abi.Visitor in place, on the caller's goroutine (no copy into Go, no other goroutine); Wait
// sleeps until the next poll is worth making. A consumer that falls behind polls late, and the
// kernel side counts lost events instead of memory growing. Every call into the library is
// serialised, as its global state requires.
//
// The ABI's Go types are package abi's; the layer's behaviour, and where it differs from
// iLogtail's wrapper, is README.md's section "cgo/libebpf — the cgo layer".
package libebpf
