// Package elfcode locates machine code of an ELF file: which executable loadable segment holds a
// virtual address, and so where it is in the file, which is what a uprobe is attached by.
package elfcode

import (
	"debug/elf"
	"fmt"
)

// segment returns the executable PT_LOAD segment whose file bytes hold [addr, addr+n).
func segment(f *elf.File, addr, n uint64) (*elf.Prog, error) {
	for _, p := range f.Progs {
		// Written so that no sum wraps: addr and n come from the binary, which may be crafted.
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && n <= p.Filesz && addr-p.Vaddr <= p.Filesz-n {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%#x+%d is in no executable loadable segment", addr, n)
}

// FileOffset converts the virtual address of an instruction of f into its file offset.
func FileOffset(f *elf.File, addr uint64) (uint64, error) {
	p, err := segment(f, addr, 1)
	if err != nil {
		return 0, err
	}
	return addr - p.Vaddr + p.Off, nil
}

// Read returns the n bytes of code at virtual address addr, and addr's file offset.
func Read(f *elf.File, addr, n uint64) ([]byte, uint64, error) {
	p, err := segment(f, addr, n)
	if err != nil {
		return nil, 0, err
	}
	buf := make([]byte, n)
	if _, err := p.ReadAt(buf, int64(addr-p.Vaddr)); err != nil {
		return nil, 0, err
	}
	return buf, addr - p.Vaddr + p.Off, nil
}
