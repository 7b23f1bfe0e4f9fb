package elfcode

import (
	"debug/elf"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// A length from a crafted table that wraps the address around is refused, not allocated.
func TestReadRefusesWrappingLengths(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	f, err := elf.Open(exe)
	require.NoError(t, err)
	defer f.Close()
	text := f.Section(".text")
	require.NotNil(t, text)

	code, _, err := Read(f, text.Addr, 16)
	require.NoError(t, err)
	require.Len(t, code, 16)
	for _, n := range []uint64{^uint64(0) - 0xfff, ^uint64(0), text.Size + 1<<40} {
		_, _, err := Read(f, text.Addr+0x2000, n)
		require.Error(t, err, "n=%#x", n)
	}
}
