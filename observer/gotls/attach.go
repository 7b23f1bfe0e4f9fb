package gotls

import "github.com/netobserver/netobserver/abi"

// The library's programs (bpf/netobserver.bpf.c): the entry probe saves the call, the return probe
// (an entry-type uprobe on every RET) hands its plaintext over.
const (
	EntryProgram  = "tls_go_entry"
	ReturnProgram = "tls_go_return"
)

// Probe is one uprobe on the binary: a program at a file offset, with its attach cookie.
type Probe struct {
	Program string
	Func    string // for messages
	Offset  uint64
	Cookie  uint64
}

// Probes are the uprobes b needs: on Write and Read, the entry program at the function's start
// and the return program on each RET, the entries first (a return finds nothing to report
// before its entry probe is in).
func (b *Binary) Probes() []Probe {
	var ps []Probe
	for _, fn := range []struct {
		name string
		f    Func
		dir  abi.Direction
	}{{WriteFunc, b.Write, abi.DirEgress}, {ReadFunc, b.Read, abi.DirIngress}} {
		cookie := b.Cookie(fn.dir)
		ps = append(ps, Probe{EntryProgram, fn.name, fn.f.Entry, cookie})
		for _, r := range fn.f.Returns {
			ps = append(ps, Probe{ReturnProgram, fn.name, r, cookie})
		}
	}
	return ps
}
