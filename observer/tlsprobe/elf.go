package tlsprobe

import (
	"debug/elf"
	"fmt"

	"github.com/netobserver/netobserver/observer/internal/elfcode"
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
		off, err := elfcode.FileOffset(f, s.Value)
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
