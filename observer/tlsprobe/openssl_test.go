package tlsprobe

import (
	"debug/elf"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const systemLibssl = "/lib/x86_64-linux-gnu/libssl.so.3"

// The probes of the system's libssl: the four functions, entry before return, at the file
// offsets readelf and nm give (value - vaddr + offset of the executable PT_LOAD).
func TestOpenSSLProbesOfTheSystemLibssl(t *testing.T) {
	f, err := elf.Open(systemLibssl)
	require.NoError(t, err, "libssl3 is installed by make deps")
	defer f.Close()
	probes, err := OpenSSL{}.Probes(f)
	require.NoError(t, err)

	want := nmOffsets(t, systemLibssl)
	require.Len(t, want, 4, "nm finds the four functions")
	require.Len(t, probes, 8)
	for i := 0; i < len(probes); i += 2 {
		enter, ret := probes[i], probes[i+1]
		assert.Equal(t, "tls_openssl3_enter", enter.Program)
		assert.False(t, enter.Return)
		assert.True(t, ret.Return)
		assert.Equal(t, enter.Offset, ret.Offset)
		assert.Equal(t, enter.Symbol, ret.Symbol)
		assert.Equal(t, want[enter.Symbol], enter.Offset, enter.Symbol)
		assert.Equal(t, map[string]string{"SSL_read": "tls_openssl_read_ret", "SSL_write": "tls_openssl_write_ret",
			"SSL_read_ex": "tls_openssl_read_ex_ret", "SSL_write_ex": "tls_openssl_write_ex_ret"}[ret.Symbol], ret.Program)
	}
}

// nmOffsets computes the file offsets with binutils, independently of debug/elf.
func nmOffsets(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	var off, vaddr uint64
	out, err := exec.Command("readelf", "-lW", path).Output()
	require.NoError(t, err)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && f[0] == "LOAD" && f[7] == "E" {
			off, _ = strconv.ParseUint(f[1], 0, 64)
			vaddr, _ = strconv.ParseUint(f[2], 0, 64)
			break
		}
	}
	out, err = exec.Command("nm", "-D", path).Output()
	require.NoError(t, err)
	got := map[string]uint64{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[1] != "T" {
			continue
		}
		name, _, _ := strings.Cut(f[2], "@")
		switch name {
		case "SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex":
			v, err := strconv.ParseUint(f[0], 16, 64)
			require.NoError(t, err)
			got[name] = v - vaddr + off
		}
	}
	return got
}

func TestOpenSSLEntryByVersion(t *testing.T) {
	for v, want := range map[string]string{"OPENSSL_3.0.0": "tls_openssl3_enter", "OPENSSL_1_1_0": "tls_openssl11_enter"} {
		got, err := opensslEnter(v)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	for _, v := range []string{"", "OPENSSL_1_0_0", "BORINGSSL"} {
		_, err := opensslEnter(v)
		assert.Error(t, err, v)
	}
}

func TestOpenSSLWants(t *testing.T) {
	for path, want := range map[string]bool{
		"/usr/lib/x86_64-linux-gnu/libssl.so.3": true, "/proc/1/root/lib/libssl.so.1.1": true, "/opt/x/libssl.so": true,
		"/usr/lib/libcrypto.so.3": false, "/usr/lib/libssl3.so": false, "/usr/bin/curl": false,
	} {
		assert.Equal(t, want, OpenSSL{}.Wants(path), path)
	}
}

// A library without SSL_read (libcrypto) is refused with the reason.
func TestOpenSSLRefusesAnotherLibrary(t *testing.T) {
	f, err := elf.Open("/lib/x86_64-linux-gnu/libcrypto.so.3")
	require.NoError(t, err)
	defer f.Close()
	_, err = OpenSSL{}.Probes(f)
	assert.ErrorContains(t, err, "no SSL_read")
}
