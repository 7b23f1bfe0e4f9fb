package gotls

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// pclntab is a Go 1.20 function table holding the two functions (and one more), laid out as
// cmd/link writes it: the header, the function names, then at pclnOffset nfunc + 1 (entry, _func
// offset) pairs followed by the _funcs (entry, name offset).
func pclntab() []byte {
	names := []byte("main.main\x00" + WriteFunc + "\x00" + ReadFunc + "\x00")
	nameOff := []uint32{0, 10, uint32(10 + len(WriteFunc) + 1)}
	const hdr = 8 + 8*8
	funcnames := uint64(hdr)
	cu := funcnames + uint64(len(names))
	pcln := (cu + 7) &^ 7
	var b bytes.Buffer
	b.Write([]byte{0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8})
	for _, w := range []uint64{3, 0, 0x401000, funcnames, cu, cu, cu, pcln} {
		binary.Write(&b, binary.LittleEndian, w)
	}
	b.Write(names)
	b.Write(make([]byte, pcln-cu))
	entries := []uint32{0, 0x100, 0x400, 0x900}
	funcs := uint32(8 * len(entries))
	for i, e := range entries {
		binary.Write(&b, binary.LittleEndian, e)
		binary.Write(&b, binary.LittleEndian, funcs+uint32(8*min(i, 2)))
	}
	for i := range 3 {
		binary.Write(&b, binary.LittleEndian, entries[i])
		binary.Write(&b, binary.LittleEndian, nameOff[i])
	}
	return b.Bytes()
}

// FuzzPclnLookup: the function table comes from any binary a process runs; no table may crash
// the observer or yield a function that ends before it starts (its code is read by that size).
func FuzzPclnLookup(f *testing.F) {
	f.Add(pclntab())
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 8+8*8 {
			return
		}
		out, err := pclnLookup(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))), data[:8+8*8], 0x401000, []string{WriteFunc, ReadFunc})
		if err != nil {
			return
		}
		for name, r := range out {
			if r.hi <= r.lo {
				t.Fatalf("%s: %#x-%#x", name, r.lo, r.hi)
			}
		}
	})
}

func TestPclntabSeed(t *testing.T) {
	data := pclntab()
	out, err := pclnLookup(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))), data[:8+8*8], 0x401000, []string{WriteFunc, ReadFunc})
	require.NoError(t, err)
	require.Equal(t, map[string]addrRange{WriteFunc: {0x401100, 0x401400}, ReadFunc: {0x401400, 0x401900}}, out)
}
