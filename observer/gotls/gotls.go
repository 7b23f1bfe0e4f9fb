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
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"sync"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/internal/elfcode"
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
	toolchain := info.GoVersion
	for _, s := range info.Settings {
		if s.Key == "GOEXPERIMENT" {
			if noRegABI.MatchString(s.Value) {
				return nil, fmt.Errorf("%s: %w: built with GOEXPERIMENT=noregabi", path, ErrUnsupported)
			}
			toolchain += " GOEXPERIMENT=" + s.Value
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

	if off, ok := toolchainOffsets.get(toolchain); ok {
		b.Offsets, b.OffsetsFrom = off, "dwarf of an earlier binary of "+toolchain
	} else if off, err := dwarfOffsets(f); err == nil {
		if off.ConnData > 0xffff || off.NetFD > 0xffff || off.Sysfd > 0xffff {
			return nil, fmt.Errorf("%s: %w: field offsets %+v do not fit the probe's cookie", path, ErrUnsupported, off)
		}
		b.Offsets, b.OffsetsFrom = off, "dwarf"
		toolchainOffsets.put(toolchain, off)
	} else {
		row, ok := tableFor(minor)
		if !ok {
			return nil, fmt.Errorf("%s: %w: no DWARF (%v) and %s is not in the offset table", path, ErrUnsupported, err, info.GoVersion)
		}
		b.Offsets, b.OffsetsFrom = row.offsets, "table "+row.name
	}
	return b, nil
}

// toolchainOffsets are the offsets read from DWARF, by Go version and GOEXPERIMENT: the fields
// are the standard library's, laid out alike in every amd64 binary one toolchain builds, and
// reading them is most of an inspection (≈ 150 ms and 43 MB allocated for a 20 MB binary with
// compressed DWARF; ≈ 4 ms for a binary without crypto/tls, which stops before). A host that runs
// many Go programs of one toolchain (a CI runner's test binaries) pays it once per toolchain.
var toolchainOffsets = offsetCache{m: map[string]ConnOffsets{}}

// maxToolchains bounds the cache: past it, more toolchains are read from DWARF every time.
const maxToolchains = 64

type offsetCache struct {
	mu sync.Mutex
	m  map[string]ConnOffsets
}

func (c *offsetCache) get(toolchain string) (ConnOffsets, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	off, ok := c.m[toolchain]
	return off, ok
}

func (c *offsetCache) put(toolchain string, off ConnOffsets) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) < maxToolchains {
		c.m[toolchain] = off
	}
}

// addrRange is a function's [lo, hi) virtual addresses.
type addrRange struct{ lo, hi uint64 }

// findFuncs returns the two functions' ranges, from .symtab, .dynsym (Go binaries linked to
// export every symbol, as Debian's dockerd) or else the pclntab. A .symtab that names
// runtime.main is the Go linker's, which lists every function: without the two, crypto/tls is not
// linked in, and the pclntab is not read (for the toolchain's 25 MB compile, reading it and the
// symbols as []elf.Symbol allocated 19 MiB per exec the observer saw).
func findFuncs(f *elf.File) (map[string]addrRange, string, error) {
	want := []string{WriteFunc, ReadFunc}
	for _, tab := range []struct {
		name string
		typ  elf.SectionType
	}{{"symtab", elf.SHT_SYMTAB}, {"dynsym", elf.SHT_DYNSYM}} {
		found, err := tableFuncs(f, tab.typ, append(want, goMain))
		if err != nil {
			continue
		}
		_, complete := found[goMain]
		delete(found, goMain)
		if len(found) > 0 || complete && tab.typ == elf.SHT_SYMTAB {
			return found, tab.name, nil
		}
	}
	out, err := pclnFuncs(f, want)
	return out, "pclntab", err
}

// goMain is a function every Go executable has: a symbol table that names it is the linker's.
const goMain = "runtime.main"

// symBufSize is what the symbol, string and function tables are read by at a time, and so about
// all that reading them allocates.
const symBufSize = 16 << 10

// tableFuncs finds the named functions in the symbol table of type typ, streaming it and its
// string table (elf.File.Symbols would hold every symbol and its name at once). A name is found
// wherever its bytes and a NUL are in the string table: a symbol may name the tail of a longer
// string.
func tableFuncs(f *elf.File, typ elf.SectionType, names []string) (map[string]addrRange, error) {
	if f.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, f.Class)
	}
	syms := f.SectionByType(typ)
	if syms == nil || syms.Link == 0 || int(syms.Link) >= len(f.Sections) {
		return nil, fmt.Errorf("no %s", typ)
	}
	strs := f.Sections[syms.Link]
	if strs.Type != elf.SHT_STRTAB {
		return nil, fmt.Errorf("%s is not a string table", strs.Name)
	}
	at, err := stringOffsets(strs.Open(), names)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", strs.Name, err)
	}
	out := map[string]addrRange{}
	if len(at) == 0 {
		return out, nil
	}
	r := bufio.NewReaderSize(syms.Open(), symBufSize)
	var sym [elf.Sym64Size]byte
	for {
		if _, err := io.ReadFull(r, sym[:]); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("reading %s: %w", syms.Name, err)
		}
		name, ok := at[f.ByteOrder.Uint32(sym[0:])]
		info := sym[4]
		value, size := f.ByteOrder.Uint64(sym[8:]), f.ByteOrder.Uint64(sym[16:])
		if ok && elf.ST_TYPE(info) == elf.STT_FUNC && size > 0 {
			out[name] = addrRange{value, value + size}
		}
	}
}

// maxNameCopies bounds how often one name may be found in a string table: a linker writes each
// once (or as the tail of a few longer names), while a crafted binary repeating it would make the
// map of offsets as large as the table.
const maxNameCopies = 16

// stringOffsets are the offsets in the strings r reads at which each of names begins (its bytes
// then a NUL), read symBufSize at a time; each read keeps the previous one's last bytes, so that a
// name cut by a read's end is whole in the next.
func stringOffsets(r io.Reader, names []string) (map[uint32]string, error) {
	longest := 0
	terminated := make([][]byte, len(names))
	for i, n := range names {
		terminated[i] = append([]byte(n), 0)
		longest = max(longest, len(terminated[i]))
	}
	at := map[uint32]string{}
	copies := make([]int, len(names))
	buf := make([]byte, symBufSize+longest)
	kept, base := 0, uint64(0) // buf[:kept] are the previous read's last bytes, from offset base
	for {
		n, err := io.ReadFull(r, buf[kept:])
		end := kept + n
		for k, name := range terminated {
			for i := 0; ; i++ {
				j := bytes.Index(buf[i:end], name)
				if j < 0 {
					break
				}
				off := base + uint64(i+j)
				if _, seen := at[uint32(off)]; !seen && off <= math.MaxUint32 {
					at[uint32(off)] = names[k]
					copies[k]++
				}
				i += j
				if copies[k] > maxNameCopies {
					return nil, fmt.Errorf("%w: more than %d copies of %s in a string table", ErrUnsupported, maxNameCopies, names[k])
				}
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return at, nil
		}
		if err != nil {
			return nil, err
		}
		kept = min(longest-1, end)
		copy(buf, buf[end-kept:end])
		base += uint64(end - kept)
	}
}

// pclnFuncs finds the wanted functions in the pclntab, which every Go binary keeps (the runtime
// needs it): .gopclntab, or in a PIE .data.rel.ro.gopclntab, or, when the external linker merged
// it into .data.rel.ro, wherever its header is found there. A Go 1.18+ table is read a buffer at
// a time (pclnLookup): `go test` links its binaries with -s -w, and each one that started cost
// the observer its whole table and gosym's functions (15–40 MB for a test binary with cgo).
func pclnFuncs(f *elf.File, want []string) (map[string]addrRange, error) {
	pcln := f.Section(".gopclntab")
	if pcln == nil {
		pcln = f.Section(".data.rel.ro.gopclntab")
	}
	var tab *io.SectionReader
	var addr uint64
	var err error
	if pcln != nil {
		if pcln.ReaderAt == nil {
			return nil, fmt.Errorf("%w: %s is compressed", ErrUnsupported, pcln.Name)
		}
		tab, addr = io.NewSectionReader(pcln, 0, int64(pcln.Size)), pcln.Addr
	} else if tab, addr, err = findPcln(f); err != nil {
		return nil, err
	}
	var hdr [8 + 8*8]byte
	if _, err := tab.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("%w: pclntab: reading its header: %v", ErrUnsupported, err)
	}
	textStart, err := pclnTextStart(f, addr, hdr[:])
	if err != nil {
		return nil, fmt.Errorf("%w: pclntab: %v", ErrUnsupported, err)
	}
	switch binary.LittleEndian.Uint32(hdr[:]) {
	case 0xfffffff0, 0xfffffff1:
		out, err := pclnLookup(tab, hdr[:], textStart, want)
		if err != nil {
			return nil, fmt.Errorf("%w: pclntab: %v", ErrUnsupported, err)
		}
		return out, nil
	}
	// Go 1.17's table (the oldest with the register ABI), whole, through gosym.
	data := make([]byte, tab.Size())
	if _, err := tab.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("reading the pclntab: %w", err)
	}
	t, err := gosym.NewTable(nil, gosym.NewLineTable(data, textStart))
	if err != nil {
		return nil, fmt.Errorf("%w: pclntab: %v", ErrUnsupported, err)
	}
	out := map[string]addrRange{}
	for _, name := range want {
		if fn := t.LookupFunc(name); fn != nil && fn.End > fn.Entry {
			out[name] = addrRange{fn.Entry, fn.End}
		}
	}
	return out, nil
}

// pclnLookup finds the named functions in a Go 1.18+ pclntab (runtime/symtab.go, cmd/link's
// pcln.go): the header's words after the first 8 bytes are nfunc, nfiles, textStart,
// funcnameOffset, cuOffset, filetabOffset, pctabOffset and pclnOffset; at pclnOffset, nfunc + 1
// pairs of uint32 (entry offset from textStart, offset of the function's _func from pclnOffset),
// the last one's entry the end of the text; a _func begins with its entry offset and the offset of
// its name in the function name table. The names' offsets are found first, then the functions
// whose _func names one of them, reading the pairs and the _funcs (which follow the pairs in
// their order) forwards a buffer at a time.
func pclnLookup(tab *io.SectionReader, hdr []byte, textStart uint64, names []string) (map[string]addrRange, error) {
	word := func(i int) uint64 { return binary.LittleEndian.Uint64(hdr[8+8*i:]) }
	nfunc, funcnames, cus, pcln := word(0), word(3), word(4), word(7)
	size := uint64(tab.Size())
	if funcnames > cus || cus > size || pcln > size || nfunc > (size-pcln)/8 {
		return nil, fmt.Errorf("header out of bounds: %d functions, names at %d-%d, functions at %d, table of %d bytes",
			nfunc, funcnames, cus, pcln, size)
	}
	at, err := stringOffsets(io.NewSectionReader(tab, int64(funcnames), int64(cus-funcnames)), names)
	if err != nil {
		return nil, err
	}
	out := map[string]addrRange{}
	if len(at) == 0 {
		return out, nil
	}
	pairs := bufio.NewReaderSize(io.NewSectionReader(tab, int64(pcln), int64(8*(nfunc+1))), symBufSize)
	funcs := forwardReader{r: io.NewSectionReader(tab, int64(pcln), int64(size-pcln)), at: tab, base: int64(pcln)}
	funcs.buf = bufio.NewReaderSize(funcs.r, symBufSize)
	var pair, next [8]byte
	if _, err := io.ReadFull(pairs, pair[:]); err != nil {
		return nil, fmt.Errorf("function table: %w", err)
	}
	for i := uint64(0); i < nfunc; i++ {
		if _, err := io.ReadFull(pairs, next[:]); err != nil {
			return nil, fmt.Errorf("function table: %w", err)
		}
		var fn [8]byte // entryOff, nameOff
		if err := funcs.readAt(fn[:], int64(binary.LittleEndian.Uint32(pair[4:]))); err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		if name, ok := at[binary.LittleEndian.Uint32(fn[4:])]; ok && binary.LittleEndian.Uint32(next[:]) > binary.LittleEndian.Uint32(pair[:]) {
			out[name] = addrRange{textStart + uint64(binary.LittleEndian.Uint32(pair[:])), textStart + uint64(binary.LittleEndian.Uint32(next[:]))}
		}
		pair = next
	}
	return out, nil
}

// forwardReader reads at increasing offsets through a buffer, and at a lower one directly.
type forwardReader struct {
	r    *io.SectionReader
	buf  *bufio.Reader
	at   io.ReaderAt
	base int64 // r's start in at
	pos  int64 // buf's position in r
}

func (f *forwardReader) readAt(p []byte, off int64) error {
	if off < f.pos {
		_, err := f.at.ReadAt(p, f.base+off)
		return err
	}
	if _, err := f.buf.Discard(int(off - f.pos)); err != nil {
		return err
	}
	_, err := io.ReadFull(f.buf, p)
	f.pos = off + int64(len(p))
	return err
}

// findPcln looks for the pclntab header (a Go 1.18+ magic, two zero bytes, instruction quantum 1,
// pointer size 8) in .data.rel.ro, a buffer at a time; it returns the section from there to its
// end.
func findPcln(f *elf.File) (*io.SectionReader, uint64, error) {
	sec := f.Section(".data.rel.ro")
	if sec == nil || sec.ReaderAt == nil {
		return nil, 0, fmt.Errorf("%w: no function symbols and no pclntab", ErrUnsupported)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(sec, 0, int64(sec.Size)), symBufSize)
	var w [8]byte
	for off := uint64(0); off+8 <= sec.Size; off += 8 {
		if _, err := io.ReadFull(r, w[:]); err != nil {
			return nil, 0, fmt.Errorf("reading .data.rel.ro: %w", err)
		}
		m := binary.LittleEndian.Uint32(w[:])
		if (m == 0xfffffff1 || m == 0xfffffff0) && w[4] == 0 && w[5] == 0 && w[6] == 1 && w[7] == 8 {
			return io.NewSectionReader(sec, int64(off), int64(sec.Size-off)), sec.Addr + off, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: no function symbols and no pclntab", ErrUnsupported)
}

// pclnTextStart is the address the pclntab's function offsets count from (Go 1.18+):
// runtime.text, not .text's address when the external linker put C code first. Go 1.18 to 1.25
// keep it in the table's header (in a PIE as an R_X86_64_RELATIVE relocation of the header's
// word, whose addend is the address); later ones only in the runtime's moduledata, whose first
// word points at the table (in .go.module, Go 1.26). Older tables hold absolute addresses.
func pclnTextStart(f *elf.File, addr uint64, data []byte) (uint64, error) {
	const hdrTextStart = 8 + 2*8
	if len(data) < hdrTextStart+8 {
		return 0, fmt.Errorf("too short")
	}
	switch binary.LittleEndian.Uint32(data) {
	case 0xfffffff0, 0xfffffff1: // Go 1.18-1.19, 1.20+
	default:
		return 0, nil
	}
	if data[7] != 8 {
		return 0, fmt.Errorf("pointer size %d", data[7])
	}
	start, ok := word(f, addr+hdrTextStart)
	if !ok || start == 0 {
		if start, ok = moduledataText(f, addr); !ok {
			return 0, fmt.Errorf("the text start is neither in the table's header nor in a moduledata")
		}
	}
	if text := f.Section(".text"); text == nil || start < text.Addr || start >= text.Addr+text.Size {
		return 0, fmt.Errorf("text start %#x is outside .text", start)
	}
	return start, nil
}

// moduledata's text and etext words (runtime/symtab.go: the table pointer, six slices, three
// words, then text and etext; the same from Go 1.18 to 1.26).
const mdText, mdEtext = 8 + 6*24 + 3*8, 8 + 6*24 + 4*8

// moduledataText finds the moduledata whose first word points at the pclntab at pcln (stored, or
// relocated in a PIE) and whose text and etext lie in .text, and returns its text.
func moduledataText(f *elf.File, pcln uint64) (uint64, bool) {
	text := f.Section(".text")
	if text == nil {
		return 0, false
	}
	check := func(md uint64) (uint64, bool) {
		start, ok1 := word(f, md+mdText)
		end, ok2 := word(f, md+mdEtext)
		if ok1 && ok2 && start >= text.Addr && start < end && end <= text.Addr+text.Size {
			return start, true
		}
		return 0, false
	}
	for _, name := range []string{".go.module", ".noptrdata", ".data", ".data.rel.ro"} {
		sec := f.Section(name)
		if sec == nil || sec.Type != elf.SHT_PROGBITS {
			continue
		}
		data, err := sec.Data()
		if err != nil {
			continue
		}
		for i := 0; i+8 <= len(data); i += 8 {
			if binary.LittleEndian.Uint64(data[i:]) == pcln {
				if start, ok := check(sec.Addr + uint64(i)); ok {
					return start, true
				}
			}
		}
	}
	for _, r := range relatives(f) {
		if r.addend == pcln {
			if start, ok := check(r.off); ok {
				return start, true
			}
		}
	}
	return 0, false
}

// word reads the 8 bytes at addr from the file, or, where the file holds 0 there, the addend of
// their R_X86_64_RELATIVE relocation (a PIE's pointers).
func word(f *elf.File, addr uint64) (uint64, bool) {
	for _, sec := range f.Sections {
		if sec.Type != elf.SHT_PROGBITS || addr < sec.Addr || addr+8 > sec.Addr+sec.Size {
			continue
		}
		var b [8]byte
		if _, err := sec.ReadAt(b[:], int64(addr-sec.Addr)); err != nil {
			return 0, false
		}
		if v := binary.LittleEndian.Uint64(b[:]); v != 0 {
			return v, true
		}
		for _, r := range relatives(f) {
			if r.off == addr {
				return r.addend, true
			}
		}
		return 0, true
	}
	return 0, false
}

type relative struct{ off, addend uint64 }

// relatives are the R_X86_64_RELATIVE relocations of .rela.dyn.
func relatives(f *elf.File) []relative {
	rela := f.Section(".rela.dyn")
	if rela == nil {
		return nil
	}
	data, err := rela.Data()
	if err != nil {
		return nil
	}
	var out []relative
	for i := 0; i+24 <= len(data); i += 24 {
		if elf.R_X86_64(binary.LittleEndian.Uint64(data[i+8:])&0xffffffff) == elf.R_X86_64_RELATIVE {
			out = append(out, relative{binary.LittleEndian.Uint64(data[i:]), binary.LittleEndian.Uint64(data[i+16:])})
		}
	}
	return out
}

// maxFuncSize bounds the code read for one function: (*tls.Conn).Read and Write are a few KiB,
// and a crafted symbol or function table must not make the observer read a segment whole.
const maxFuncSize = 1 << 20

// probePoints decodes the function's instructions and returns the file offsets of its entry and
// of every RET. An instruction that does not decode refuses the binary: a RET missed would leave
// calls without their end, and one guessed from a 0xC3 byte inside another instruction would
// break it.
func probePoints(f *elf.File, name string, r addrRange) (Func, error) {
	if r.hi <= r.lo || r.hi-r.lo > maxFuncSize {
		return Func{}, fmt.Errorf("%w: %s spans %#x-%#x", ErrUnsupported, name, r.lo, r.hi)
	}
	code, fileOff, err := elfcode.Read(f, r.lo, r.hi-r.lo)
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

// cookieMagic marks a cookie of these probes (bpf/shared.h, NETOBSERVER_GOTLS_MAGIC).
const cookieMagic = 0x67

// Cookie is the attach cookie of every probe on the function of direction dir (abi.DirEgress for
// Write, abi.DirIngress for Read): the offsets and the direction, as bpf/shared.h lays them out.
func (b *Binary) Cookie(dir abi.Direction) uint64 {
	return b.Offsets.ConnData&0xffff | (b.Offsets.NetFD&0xffff)<<16 | (b.Offsets.Sysfd&0xffff)<<32 |
		uint64(dir&0xff)<<48 | cookieMagic<<56
}
