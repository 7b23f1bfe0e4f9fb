// Package libebpf (directory cgo/libebpf) loads libebpf.so — iLogtail's network observer library,
// ours, or the replay library — and is the only package with cgo. It finds and checks the file,
// resolves its symbols, configures and controls the library, and hands its events to Go a batch per
// poll (abi.Batch on Events), never one by one; a fixed number of batches is in flight, so a slow
// consumer makes the kernel side count lost events instead of memory growing. Every call into the
// library is serialised, as its global state requires.
//
// The ABI's Go types are package abi's; the layer's behaviour, and where it differs from
// iLogtail's wrapper, is README.md's section "cgo/libebpf — the cgo layer".
package libebpf
