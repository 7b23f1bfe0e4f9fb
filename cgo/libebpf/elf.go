package libebpf

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"runtime"
)

// machines maps GOARCH to the ELF machine a library must be built for.
var machines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "loong64": elf.EM_LOONGARCH,
}

// checkSharedObject explains, before dlopen would say something vaguer, why path cannot be loaded
// into this process: not ELF, not a shared library, or built for another architecture.
func checkSharedObject(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		var formatErr *elf.FormatError
		if errors.As(err, &formatErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("libebpf: %s is not an ELF shared library (%v)", path, err)
		}
		return fmt.Errorf("libebpf: cannot read %s: %w", path, err)
	}
	defer f.Close()
	want, known := machines[runtime.GOARCH]
	if known && f.Machine != want {
		return fmt.Errorf("libebpf: %s is built for %s; this process is %s (%s)", path, f.Machine, runtime.GOARCH, want)
	}
	if (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") && f.Class != elf.ELFCLASS64 {
		return fmt.Errorf("libebpf: %s is a 32-bit library; this process is 64-bit %s", path, runtime.GOARCH)
	}
	switch f.Type {
	case elf.ET_DYN:
		if flags, err := f.DynValue(elf.DT_FLAGS_1); err == nil && len(flags) > 0 && flags[0]&uint64(elf.DF_1_PIE) != 0 {
			return fmt.Errorf("libebpf: %s is a position-independent executable, not a shared library", path)
		}
		return nil
	case elf.ET_EXEC:
		return fmt.Errorf("libebpf: %s is an executable, not a shared library", path)
	case elf.ET_REL:
		return fmt.Errorf("libebpf: %s is an object file; link it with -shared", path)
	}
	return fmt.Errorf("libebpf: %s is an ELF file of type %s, not a shared library", path, f.Type)
}
