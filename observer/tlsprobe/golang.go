package tlsprobe

import (
	"debug/elf"
	"errors"

	"github.com/netobserver/netobserver/observer/gotls"
)

// Go probes Go programs that link crypto/tls (Go 1.17+ on amd64, observer/gotls): an entry probe
// on (*tls.Conn).Write and Read and a return probe on each of their RET instructions, all with
// the binary's field offsets in their attach cookie. A Go program that is not amd64, older than
// Go 1.17 or has no pclntab or symbols to find the functions in fails (logged once, counted);
// one without crypto/tls, and any other file, is not Go's.
type Go struct{}

// Name implements Prober.
func (Go) Name() string { return "go" }

// Wants implements Prober: nothing a process maps (ProbesExe gets the executables).
func (Go) Wants(string) bool { return false }

// Probes implements Prober; Go's probes come from ProbesExe.
func (Go) Probes(*elf.File) ([]Probe, error) { return nil, ErrNotMine }

// ProbesExe implements ExeProber.
func (Go) ProbesExe(path string) ([]Probe, error) {
	b, err := gotls.Inspect(path)
	if errors.Is(err, gotls.ErrNotGo) || errors.Is(err, gotls.ErrNoTLS) {
		return nil, ErrNotMine
	}
	if err != nil {
		return nil, err
	}
	var ps []Probe
	for _, p := range b.Probes() {
		ps = append(ps, Probe{Program: p.Program, Symbol: p.Func, Offset: p.Offset, Cookie: p.Cookie})
	}
	return ps, nil
}
