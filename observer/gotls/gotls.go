// Package gotls reads from a Go executable what uprobes on crypto/tls need: where
// (*tls.Conn).Write and (*tls.Conn).Read begin and return (as file offsets, what a uprobe is
// attached at), and the field offsets that lead from a *tls.Conn to the socket's file descriptor.
//
// Only binaries with Go's register ABI (Go 1.17 and later on amd64) are accepted: the probes read
// the receiver, the buffer and the result from registers. Functions are found in .symtab or, in
// a stripped binary, in .gopclntab; field offsets come from DWARF when the binary has it, else from
// a table by Go version (fieldTable).
package gotls

import (
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/netobserver/netobserver/abi"
	"golang.org/x/arch/x86/x86asm"
)

// The functions the probes go on.
const (
	WriteFunc = "crypto/tls.(*Conn).Write"
	ReadFunc  = "crypto/tls.(*Conn).Read"
)

// Errors that say a binary is not for these probes (wrapped with the details).
var (
	ErrNotGo       = errors.New("not a Go executable")
	ErrUnsupported = errors.New("unsupported Go executable")
	ErrNoTLS       = errors.New("crypto/tls is not linked in")
)

// Func is a probed function: the file offset of its first instruction and of each of its RET
// instructions (a return is probed there instead of with a uretprobe, which rewrites the return
// address on the stack, and Go moves stacks).
type Func struct {
	Entry   uint64
	Returns []uint64
}

// ConnOffsets lead from a *tls.Conn to the fd: the *net.TCPConn (or *net.UnixConn) is the data
// word of the net.Conn interface at ConnData; its *net.netFD at NetFD; the int Sysfd of the
// netFD's poll.FD at Sysfd.
type ConnOffsets struct {
	ConnData uint64 // tls.Conn.conn + the interface's data word
	NetFD    uint64 // net.TCPConn.conn + net.conn.fd
	Sysfd    uint64 // net.netFD.pfd + poll.FD.Sysfd
}

// Binary is what a Go executable offers the probes.
type Binary struct {
	GoVersion   string // as the binary records it, e.g. go1.26.8
	Write, Read Func
	Offsets     ConnOffsets
	// Where the functions were found ("symtab" or "pclntab") and the offsets ("dwarf" or the
	// table's entry, e.g. "table go1.17+").
	FuncsFrom, OffsetsFrom string
}

var (
	goMinor  = regexp.MustCompile(`go1\.(\d+)`)
	noRegABI = regexp.MustCompile(`(^|,)noregabi($|,)`)
)

// Inspect reads path. A binary that is not Go, not amd64, older than Go 1.17, or has no
// crypto/tls gives an error wrapping ErrNotGo, ErrUnsupported or ErrNoTLS.
func Inspect(path string) (*Binary, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%v)", path, ErrNotGo, err)
	}
	b := &Binary{GoVersion: info.GoVersion}
	if f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s: %w: %s, the probes read amd64 registers", path, ErrUnsupported, f.Machine)
	}
	m := goMinor.FindStringSubmatch(info.GoVersion)
	if m == nil {
		return nil, fmt.Errorf("%s: %w: Go version %q not understood", path, ErrUnsupported, info.GoVersion)
	}
	minor, _ := strconv.Atoi(m[1])
	if minor < 17 {
		return nil, fmt.Errorf("%s: %w: %s has no register ABI (Go 1.17+)", path, ErrUnsupported, info.GoVersion)
	}
	for _, s := range info.Settings {
		if s.Key == "GOEXPERIMENT" && noRegABI.MatchString(s.Value) {
			return nil, fmt.Errorf("%s: %w: built with GOEXPERIMENT=noregabi", path, ErrUnsupported)
		}
	}

	funcs, from, err := findFuncs(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b.FuncsFrom = from
	for _, fn := range []struct {
		name string
		out  *Func
	}{{WriteFunc, &b.Write}, {ReadFunc, &b.Read}} {
		r, ok := funcs[fn.name]
		if !ok {
			return nil, fmt.Errorf("%s: %w: no %s", path, ErrNoTLS, fn.name)
		}
		if *fn.out, err = probePoints(f, fn.name, r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}

	if off, err := dwarfOffsets(f); err == nil {
		if off.ConnData > 0xffff || off.NetFD > 0xffff || off.Sysfd > 0xffff {
			return nil, fmt.Errorf("%s: %w: field offsets %+v do not fit the probe's cookie", path, ErrUnsupported, off)
		}
		b.Offsets, b.OffsetsFrom = off, "dwarf"
	} else {
		row, ok := tableFor(minor)
		if !ok {
			return nil, fmt.Errorf("%s: %w: no DWARF (%v) and %s is not in the offset table", path, ErrUnsupported, err, info.GoVersion)
		}
		b.Offsets, b.OffsetsFrom = row.offsets, "table "+row.name
	}
	return b, nil
}

// addrRange is a function's [lo, hi) virtual addresses.
type addrRange struct{ lo, hi uint64 }

// findFuncs returns the two functions' ranges, from .symtab or else .gopclntab.
func findFuncs(f *elf.File) (map[string]addrRange, string, error) {
	want := map[string]bool{WriteFunc: true, ReadFunc: true}
	out := map[string]addrRange{}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if want[s.Name] && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size > 0 {
				out[s.Name] = addrRange{s.Value, s.Value + s.Size}
			}
		}
		if len(out) > 0 {
			return out, "symtab", nil
		}
	}
	pcln := f.Section(".gopclntab")
	text := f.Section(".text")
	if pcln == nil || text == nil {
		return nil, "", fmt.Errorf("%w: no .symtab functions and no .gopclntab", ErrNoTLS)
	}
	data, err := pcln.Data()
	if err != nil {
		return nil, "", fmt.Errorf("reading .gopclntab: %w", err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, "", fmt.Errorf("%w: .gopclntab: %v", ErrUnsupported, err)
	}
	for name := range want {
		if fn := tab.LookupFunc(name); fn != nil && fn.End > fn.Entry {
			out[name] = addrRange{fn.Entry, fn.End}
		}
	}
	return out, "pclntab", nil
}

// probePoints decodes the function's instructions and returns the file offsets of its entry and
// of every RET. An instruction that does not decode refuses the binary: a RET missed would leave
// calls without their end, and one guessed from a 0xC3 byte inside another instruction would
// break it.
func probePoints(f *elf.File, name string, r addrRange) (Func, error) {
	code, fileOff, err := readVirtual(f, r.lo, r.hi-r.lo)
	if err != nil {
		return Func{}, fmt.Errorf("%s: %w", name, err)
	}
	fn := Func{Entry: fileOff}
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			return Func{}, fmt.Errorf("%w: %s+%#x does not decode: %v", ErrUnsupported, name, pc, err)
		}
		if inst.Op == x86asm.RET {
			fn.Returns = append(fn.Returns, fileOff+uint64(pc))
		}
		pc += inst.Len
	}
	if len(fn.Returns) == 0 {
		return Func{}, fmt.Errorf("%w: %s has no RET", ErrUnsupported, name)
	}
	return fn, nil
}

// readVirtual reads n bytes at virtual address addr from the PT_LOAD segment holding them, and
// returns them with addr's file offset.
func readVirtual(f *elf.File, addr, n uint64) ([]byte, uint64, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 || addr < p.Vaddr || addr+n > p.Vaddr+p.Filesz {
			continue
		}
		buf := make([]byte, n)
		if _, err := p.ReadAt(buf, int64(addr-p.Vaddr)); err != nil {
			return nil, 0, err
		}
		return buf, addr - p.Vaddr + p.Off, nil
	}
	return nil, 0, fmt.Errorf("%#x+%d is in no executable segment", addr, n)
}

// cookieMagic marks a cookie of these probes (bpf/shared.h, NETOBSERVER_GOTLS_MAGIC).
const cookieMagic = 0x67

// Cookie is the attach cookie of every probe on the function of direction dir (abi.DirEgress for
// Write, abi.DirIngress for Read): the offsets and the direction, as bpf/shared.h lays them out.
func (b *Binary) Cookie(dir abi.Direction) uint64 {
	return b.Offsets.ConnData&0xffff | (b.Offsets.NetFD&0xffff)<<16 | (b.Offsets.Sysfd&0xffff)<<32 |
		uint64(dir&0xff)<<48 | cookieMagic<<56
}
