package gotls

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/stretchr/testify/require"
)

// A program that links crypto/tls with a dialed *net.TCPConn under the tls.Conn.
const probeSource = `package main

import (
	"crypto/tls"
	"os"
)

func main() {
	c, err := tls.Dial("tcp", os.Args[1], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		os.Exit(1)
	}
	c.Write([]byte("x"))
	c.Read(make([]byte, 1))
}
`

// build compiles probeSource with the toolchain (GOTOOLCHAIN value, "local" for the one running
// the test) and extra flags, once per combination.
func build(t *testing.T, toolchain string, env []string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module probe\n\ngo 1.17\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(probeSource), 0o644))
	out := filepath.Join(dir, "probe")
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), ".")...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOTOOLCHAIN="+toolchain, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false"), env...)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %v: %s", flags, msg)
	return out
}

// objdumpRets is the independent account of a function: `go tool objdump`'s RET count and the
// bytes of its first instruction.
func objdumpRets(t *testing.T, bin, fn string) (rets int, first []byte) {
	t.Helper()
	out, err := exec.Command("go", "tool", "objdump", "-s", "^"+regexp.QuoteMeta(fn)+"$", bin).Output()
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var fields []string
		for _, f := range strings.Split(sc.Text(), "\t") {
			if f != "" {
				fields = append(fields, f)
			}
		}
		if len(fields) < 4 || !strings.HasPrefix(fields[1], "0x") {
			continue
		}
		if first == nil {
			for i := 0; i+2 <= len(fields[2]); i += 2 {
				v, err := strconv.ParseUint(fields[2][i:i+2], 16, 8)
				require.NoError(t, err)
				first = append(first, byte(v))
			}
		}
		if strings.HasPrefix(fields[3], "RET") {
			rets++
		}
	}
	require.NotNil(t, first, "objdump printed no %s", fn)
	return rets, first
}

func checkFunc(t *testing.T, bin, objdumpBin, name string, fn Func) {
	t.Helper()
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	rets, first := objdumpRets(t, objdumpBin, name)
	require.Equal(t, rets, len(fn.Returns), "%s: RETs found vs go tool objdump", name)
	require.Equal(t, first, data[fn.Entry:fn.Entry+uint64(len(first))], "%s: first instruction", name)
	for _, r := range fn.Returns {
		require.Greater(t, r, fn.Entry)
		require.Equal(t, byte(0xc3), data[r], "%s: byte at RET offset %#x", name, r)
	}
}

var localVersion = sync.OnceValue(func() string {
	out, _ := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
})

func TestInspectBuilds(t *testing.T) {
	plain := build(t, "local", nil)
	ref, err := inspectUncached(plain)
	require.NoError(t, err)
	require.Equal(t, localVersion(), ref.GoVersion)
	require.Equal(t, "symtab", ref.FuncsFrom)
	require.Equal(t, "dwarf", ref.OffsetsFrom)
	checkFunc(t, plain, plain, WriteFunc, ref.Write)
	checkFunc(t, plain, plain, ReadFunc, ref.Read)
	ps := ref.Probes()
	require.Len(t, ps, 2+len(ref.Write.Returns)+len(ref.Read.Returns))
	require.Equal(t, Probe{EntryProgram, WriteFunc, ref.Write.Entry, ref.Cookie(abi.DirEgress)}, ps[0])
	require.Equal(t, Probe{EntryProgram, ReadFunc, ref.Read.Entry, ref.Cookie(abi.DirIngress)}, ps[1+len(ref.Write.Returns)])

	for _, tc := range []struct {
		name      string
		env       []string
		flags     []string
		funcsFrom string
		dwarf     bool
		sameText  bool // the code is laid out as in the plain build
	}{
		{"stripped", nil, []string{"-ldflags=-s -w"}, "pclntab", false, true},
		{"no DWARF", nil, []string{"-ldflags=-w"}, "symtab", false, true},
		{"trimpath", nil, []string{"-trimpath"}, "symtab", true, false},
		{"pie", nil, []string{"-buildmode=pie"}, "symtab", true, false},
		{"pie stripped", nil, []string{"-buildmode=pie", "-ldflags=-s -w"}, "pclntab", false, false},
		// The external linker puts C start-up code before runtime.text, and in a PIE merges the
		// pclntab into .data.rel.ro with its text start left to a relocation.
		{"external stripped", cgo, []string{"-ldflags=-linkmode=external -s -w"}, "pclntab", false, false},
		{"external pie stripped", cgo, []string{"-buildmode=pie", "-ldflags=-linkmode=external -s -w"}, "pclntab", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := build(t, "local", tc.env, tc.flags...)
			b, err := inspectUncached(bin)
			require.NoError(t, err)
			require.Equal(t, tc.funcsFrom, b.FuncsFrom)
			require.Equal(t, ref.Offsets, b.Offsets)
			if tc.dwarf {
				require.Equal(t, "dwarf", b.OffsetsFrom)
			} else {
				require.Equal(t, "table go1.17-1.26", b.OffsetsFrom)
			}
			if tc.sameText {
				require.Equal(t, ref.Write, b.Write)
				require.Equal(t, ref.Read, b.Read)
			}
			// objdump needs symbols: a stripped build is checked against its unstripped twin.
			twin := bin
			if tc.funcsFrom == "pclntab" {
				twin = build(t, "local", tc.env, unstripped(tc.flags)...)
			}
			checkFunc(t, bin, twin, WriteFunc, b.Write)
			checkFunc(t, bin, twin, ReadFunc, b.Read)
		})
	}
}

// inspectUncached is Inspect reading the offsets from this binary's own DWARF or the table.
func inspectUncached(path string) (*Binary, error) {
	toolchainOffsets.mu.Lock()
	clear(toolchainOffsets.m)
	toolchainOffsets.mu.Unlock()
	return Inspect(path)
}

// A binary of a toolchain whose offsets an earlier binary's DWARF gave takes them from there,
// even stripped; another toolchain's (here: another GOEXPERIMENT) is read afresh.
func TestOffsetsOncePerToolchain(t *testing.T) {
	ref, err := inspectUncached(build(t, "local", nil))
	require.NoError(t, err)
	require.Equal(t, "dwarf", ref.OffsetsFrom)

	stripped, err := Inspect(build(t, "local", nil, "-ldflags=-s -w"))
	require.NoError(t, err)
	require.Equal(t, "dwarf of an earlier binary of "+ref.GoVersion, stripped.OffsetsFrom)
	require.Equal(t, ref.Offsets, stripped.Offsets)

	other, err := Inspect(build(t, "local", []string{"GOEXPERIMENT=nogreenteagc"}))
	require.NoError(t, err)
	require.Equal(t, "dwarf", other.OffsetsFrom, "another GOEXPERIMENT is another toolchain")
	require.Equal(t, ref.Offsets, other.Offsets)
}

var cgo = []string{"CGO_ENABLED=1"}

// unstripped is the same build flags without -s -w.
func unstripped(flags []string) []string {
	var out []string
	for _, v := range flags {
		if v = strings.TrimSpace(strings.ReplaceAll(v, " -s -w", "")); v != "-ldflags=-s -w" {
			out = append(out, v)
		}
	}
	return out
}

// TestTableMatchesDWARF: the offset table gives what DWARF says, and a stripped build's pclntab
// the functions its symbols give, for the local toolchain and for
// every toolchain in NETOBSERVER_GOTLS_TOOLCHAINS (space-separated GOTOOLCHAIN values such as
// go1.21.13; the go command fetches them from the module proxy).
func TestTableMatchesDWARF(t *testing.T) {
	toolchains := append([]string{"local"}, strings.Fields(os.Getenv("NETOBSERVER_GOTLS_TOOLCHAINS"))...)
	for _, tc := range toolchains {
		t.Run(tc, func(t *testing.T) {
			bin := build(t, tc, nil)
			b, err := inspectUncached(bin)
			require.NoError(t, err)
			require.Equal(t, "dwarf", b.OffsetsFrom)
			m := goMinor.FindStringSubmatch(b.GoVersion)
			require.NotNil(t, m, b.GoVersion)
			minor, _ := strconv.Atoi(m[1])
			row, ok := tableFor(minor)
			require.True(t, ok, "%s is not in the table", b.GoVersion)
			require.Equal(t, b.Offsets, row.offsets, "%s: table row %s vs DWARF", b.GoVersion, row.name)
			t.Logf("%s: %+v, Write %d RETs, Read %d RETs", b.GoVersion, b.Offsets, len(b.Write.Returns), len(b.Read.Returns))

			// The same program stripped: its functions from the pclntab of this Go version.
			s, err := inspectUncached(build(t, tc, nil, "-ldflags=-s -w"))
			require.NoError(t, err)
			require.Equal(t, "pclntab", s.FuncsFrom)
			require.Equal(t, b.Write, s.Write)
			require.Equal(t, b.Read, s.Read)
		})
	}
}

func TestRefused(t *testing.T) {
	_, err := Inspect("/bin/true")
	require.True(t, errors.Is(err, ErrNotGo), "%v", err)

	arm := build(t, "local", []string{"GOARCH=arm64"})
	_, err = Inspect(arm)
	require.True(t, errors.Is(err, ErrUnsupported), "%v", err)
	require.Contains(t, err.Error(), "EM_AARCH64")

	// A Go binary without crypto/tls.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module plain\n\ngo 1.17\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(1) }\n"), 0o644))
	cmd := exec.Command("go", "build", "-o", "plain", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	_, err = Inspect(filepath.Join(dir, "plain"))
	require.True(t, errors.Is(err, ErrNoTLS), "%v", err)
}

func TestCookie(t *testing.T) {
	b := Binary{Offsets: ConnOffsets{ConnData: 8, NetFD: 0, Sysfd: 16}}
	require.Equal(t, uint64(0x6702_0010_0000_0008), b.Cookie(abi.DirEgress))
	require.Equal(t, uint64(0x6701_0010_0000_0008), b.Cookie(abi.DirIngress))
}

// TestInspectAllocatesLittle: the observer inspects every Go program that starts on the host
// (tlsprobe), whatever it holds at that moment, so one inspection must not cost the binary's
// symbols or function table: the toolchain's compile (≈ 25 MB, no crypto/tls) allocated 19.4 MiB
// when its symbols were read as []elf.Symbol and its pclntab parsed, the go command (crypto/tls
// linked, its toolchain's field offsets known) 3.5 MiB, and a binary as `go test` links it (-s -w:
// no symbols, the functions from the pclntab) its whole pclntab and gosym's functions, 19.1 MiB for
// cmd/netobserver's. What remains is the ELF headers, the build info, the two functions' code and
// the read buffers.
func TestInspectAllocatesLittle(t *testing.T) {
	env, err := exec.Command("go", "env", "GOTOOLDIR", "GOROOT").Output()
	require.NoError(t, err)
	dirs := strings.Fields(string(env))
	require.Len(t, dirs, 2)
	compile, goCmd := filepath.Join(dirs[0], "compile"), filepath.Join(dirs[1], "bin", "go")
	_, err = Inspect(goCmd) // its toolchain's offsets, read once
	require.NoError(t, err)
	stripped := build(t, "local", nil, "-ldflags=-s -w")
	_, err = Inspect(build(t, "local", nil)) // the local toolchain's offsets, for the stripped builds
	require.NoError(t, err)

	const bound = 256 << 10
	for _, c := range []struct {
		path      string
		wantErr   error
		funcsFrom string
	}{
		{compile, ErrNoTLS, ""},
		{goCmd, nil, "symtab"},
		{stripped, nil, "pclntab"},
		{build(t, "local", cgo, "-ldflags=-linkmode=external -s -w"), nil, "pclntab"},
	} {
		f, err := elf.Open(c.path)
		require.NoError(t, err)
		var table *elf.Section
		for _, name := range []string{".symtab", ".gopclntab", ".data.rel.ro"} {
			if table = f.Section(name); table != nil {
				break
			}
		}
		require.NoError(t, f.Close())
		require.NotNil(t, table, c.path)
		require.Greater(t, table.Size, uint64(bound), "%s: a %s larger than the bound", c.path, table.Name)

		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b, err := Inspect(c.path)
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		require.ErrorIs(t, err, c.wantErr)
		if c.wantErr == nil {
			require.Equal(t, c.funcsFrom, b.FuncsFrom, c.path)
		}
		t.Logf("%s: %d bytes allocated; %s %d bytes", c.path, allocated, table.Name, table.Size)
		require.Less(t, allocated, uint64(bound), c.path)
	}
}

// TestStringOffsetsBounded: a name is found wherever it ends in a NUL, across the reads' seams,
// and a table repeating it past maxNameCopies is refused instead of mapped whole.
func TestStringOffsetsBounded(t *testing.T) {
	var tab bytes.Buffer
	tab.WriteByte(0)
	tab.Write(bytes.Repeat([]byte{'x'}, symBufSize-5)) // the first name straddles the first read's end
	tab.WriteString("\x00" + ReadFunc + "\x00vendor/" + WriteFunc + "\x00")
	at, err := stringOffsets(bytes.NewReader(tab.Bytes()), []string{ReadFunc, WriteFunc})
	require.NoError(t, err)
	require.Equal(t, map[uint32]string{
		symBufSize - 3: ReadFunc,
		uint32(symBufSize - 3 + len(ReadFunc) + 1 + len("vendor/")): WriteFunc,
	}, at)

	tab.Reset()
	for range maxNameCopies + 1 {
		tab.WriteString(ReadFunc + "\x00")
	}
	_, err = stringOffsets(bytes.NewReader(tab.Bytes()), []string{ReadFunc, WriteFunc})
	require.ErrorIs(t, err, ErrUnsupported)
}
