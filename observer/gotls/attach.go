package gotls

import (
	"fmt"

	"github.com/netobserver/netobserver/abi"
)

// The library's programs (bpf/netobserver.bpf.c): the entry probe saves the call, the return probe
// (one on every RET) hands its plaintext over.
const (
	EntryProgram  = "tls_go_entry"
	ReturnProgram = "tls_go_return"
)

// Attacher attaches one of the library's uprobe programs at a file offset with an attach cookie
// (cgo/libebpf.Library).
type Attacher interface {
	AttachUprobeCookie(program, path string, offset, cookie uint64) (int, error)
	DetachUprobe(id int) error
}

// Attach puts the probes on b's Write and Read in the executable at path (the file b was read
// from) and returns their link ids; on failure it detaches what it attached.
func Attach(a Attacher, path string, b *Binary) ([]int, error) {
	var ids []int
	attach := func(program string, off, cookie uint64) error {
		id, err := a.AttachUprobeCookie(program, path, off, cookie)
		if err != nil {
			for _, id := range ids {
				a.DetachUprobe(id)
			}
			return fmt.Errorf("%s at %s+%#x: %w", program, path, off, err)
		}
		ids = append(ids, id)
		return nil
	}
	for _, fn := range []struct {
		f   Func
		dir abi.Direction
	}{{b.Write, abi.DirEgress}, {b.Read, abi.DirIngress}} {
		cookie := b.Cookie(fn.dir)
		if err := attach(EntryProgram, fn.f.Entry, cookie); err != nil {
			return nil, err
		}
		for _, r := range fn.f.Returns {
			if err := attach(ReturnProgram, r, cookie); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}

// Probes is the number of uprobes Attach puts on b.
func (b *Binary) Probes() int { return 2 + len(b.Write.Returns) + len(b.Read.Returns) }
