package tlsprobe

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"strings"
)

// OpenSSL probes libssl (1.1 and 3.x, dynamically linked): entry and return probes on SSL_read,
// SSL_write, SSL_read_ex and SSL_write_ex. The entry program is chosen by the library's major
// version (the kernel side's fallback for finding a call's socket reads structure fields whose
// offsets differ).
type OpenSSL struct{}

// Name implements Prober.
func (OpenSSL) Name() string { return "openssl" }

// Wants implements Prober: libssl.so and its versioned names.
func (OpenSSL) Wants(path string) bool {
	base := filepath.Base(path)
	return base == "libssl.so" || strings.HasPrefix(base, "libssl.so.")
}

var opensslFuncs = []struct {
	name, ret string
}{
	{"SSL_read", "tls_openssl_read_ret"},
	{"SSL_write", "tls_openssl_write_ret"},
	{"SSL_read_ex", "tls_openssl_read_ex_ret"},
	{"SSL_write_ex", "tls_openssl_write_ex_ret"},
}

// Probes implements Prober. SSL_read and SSL_write are required; the _ex functions exist from
// 1.1.1 on.
func (OpenSSL) Probes(f *elf.File) ([]Probe, error) {
	names := make([]string, len(opensslFuncs))
	for i, fn := range opensslFuncs {
		names[i] = fn.name
	}
	syms, err := DynamicSymbols(f, names...)
	if err != nil {
		return nil, err
	}
	if _, ok := syms["SSL_read"]; !ok {
		return nil, fmt.Errorf("no SSL_read among its dynamic symbols")
	}
	if _, ok := syms["SSL_write"]; !ok {
		return nil, fmt.Errorf("no SSL_write among its dynamic symbols")
	}
	enter, err := opensslEnter(syms["SSL_read"].Version)
	if err != nil {
		return nil, err
	}
	var ps []Probe
	for _, fn := range opensslFuncs {
		s, ok := syms[fn.name]
		if !ok {
			continue
		}
		// The entry first: a return probe only fires for calls that passed its entry probe.
		ps = append(ps, Probe{Program: enter, Symbol: fn.name, Offset: s.Offset},
			Probe{Program: fn.ret, Symbol: fn.name, Offset: s.Offset, Return: true})
	}
	return ps, nil
}

// opensslEnter picks the entry program by the symbol version of SSL_read: OPENSSL_3.0.0 (3.x),
// OPENSSL_1_1_0 (1.1.0 and 1.1.1, which keeps 1.1.0's version for it).
func opensslEnter(version string) (string, error) {
	switch {
	case strings.HasPrefix(version, "OPENSSL_3."):
		return "tls_openssl3_enter", nil
	case strings.HasPrefix(version, "OPENSSL_1_1_"):
		return "tls_openssl11_enter", nil
	}
	return "", fmt.Errorf("SSL_read has symbol version %q: neither OpenSSL 1.1 nor 3.x", version)
}
