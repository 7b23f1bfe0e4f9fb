package tlsprobe

import (
	"debug/elf"
	"fmt"
)

// Symbol is a function found in a file: its file offset, where a uprobe goes.
type Symbol struct {
	Name    string
	Version string // the symbol version ("OPENSSL_3.0.0"), empty if none
	Offset  uint64
}

// DynamicSymbols returns the file offsets of the named functions among f's dynamic symbols that
// are defined in f (an undefined symbol is another library's). Names not found are absent.
func DynamicSymbols(f *elf.File, names ...string) (map[string]Symbol, error) {
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	out := make(map[string]Symbol)
	for _, s := range syms {
		if !want[s.Name] || s.Section == elf.SHN_UNDEF || s.Value == 0 || elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		off, err := FileOffset(f, s.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		// A default version (name@@V) is listed once; keep the first definition otherwise.
		if _, dup := out[s.Name]; !dup {
			out[s.Name] = Symbol{Name: s.Name, Version: s.Version, Offset: off}
		}
	}
	return out, nil
}

// FileOffset converts a virtual address of f into its file offset: the address minus the vaddr
// of the loadable segment that contains it, plus that segment's offset in the file.
func FileOffset(f *elf.File, vaddr uint64) (uint64, error) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Memsz {
			return vaddr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("address %#x is in no executable loadable segment", vaddr)
}
