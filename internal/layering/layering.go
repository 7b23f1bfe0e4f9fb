package layering

import (
	"fmt"
	"strings"
)

// Module is the module path the table's prefixes are relative to.
const Module = "github.com/netobserver/netobserver"

// Layers lists the module's layers, lowest first. A package belongs to the layer with the longest
// prefix matching its path (relative to Module); it may import packages of its own layer and of
// the layers below.
var Layers = []Layer{
	{Name: "core types", Prefixes: []string{"abi", "record", "internal/fileperm"}},
	{Name: "parsers", Prefixes: []string{"parser"}},
	{Name: "metadata", Prefixes: []string{"container"}},
	{Name: "observer", Prefixes: []string{"observer"}},
	{Name: "exporters", Prefixes: []string{"export"}},
	// The cgo layer loads libebpf.so: only the binary, the iLogtail plugin (export/ilogtail, its
	// own module), tests and their harnesses use it, so everything below builds with
	// CGO_ENABLED=0.
	{Name: "cgo", Prefixes: []string{"cgo"}, OnlyFrom: []string{"cmd", "internal/replaytest", "bpf/kerneltest"}},
	// Test harnesses and tools: nothing below imports them outside tests.
	{Name: "test support", Prefixes: []string{"internal"}, OnlyFrom: []string{"internal", "cmd", "bpf", "tools"}},
	{Name: "commands", Prefixes: []string{"cmd", "tools", "bpf"}},
}

// Layer is one row of Layers.
type Layer struct {
	Name string
	// Prefixes are the package paths (relative to Module) that belong to the layer, with what
	// is below them.
	Prefixes []string
	// OnlyFrom, when set, restricts who may import the layer to these prefixes, whatever their
	// rank.
	OnlyFrom []string
}

// of returns the rank in Layers of the package at rel (a path relative to Module), and the length
// of the prefix that placed it; -1 when no layer claims it.
func of(rel string) (rank, prefixLen int) {
	rank = -1
	for i, l := range Layers {
		for _, p := range l.Prefixes {
			if under(rel, p) && len(p) > prefixLen {
				rank, prefixLen = i, len(p)
			}
		}
	}
	return rank, prefixLen
}

func under(rel, prefix string) bool {
	return rel == prefix || strings.HasPrefix(rel, prefix+"/")
}

// Check returns one error per import that breaks the layering, in imports' order: imports maps
// each package path of the module to the paths it imports (non-test). Packages and imports
// outside the module are not checked; a package of the module no layer claims is an error.
func Check(pkgs []string, imports map[string][]string) []error {
	var errs []error
	for _, pkg := range pkgs {
		rel, ok := relative(pkg)
		if !ok {
			continue
		}
		from, _ := of(rel)
		if from < 0 {
			errs = append(errs, fmt.Errorf("%s: in no layer; add it to layering.Layers", rel))
			continue
		}
		for _, imp := range imports[pkg] {
			irel, ok := relative(imp)
			if !ok {
				continue
			}
			to, _ := of(irel)
			switch {
			case to < 0:
				errs = append(errs, fmt.Errorf("%s imports %s, which is in no layer", rel, irel))
			case len(Layers[to].OnlyFrom) > 0 && !anyUnder(rel, Layers[to].OnlyFrom) && to != from:
				errs = append(errs, fmt.Errorf("%s (%s) imports %s (%s), which only %s may import",
					rel, Layers[from].Name, irel, Layers[to].Name, strings.Join(Layers[to].OnlyFrom, ", ")))
			case to > from && len(Layers[to].OnlyFrom) == 0:
				errs = append(errs, fmt.Errorf("%s (%s) imports %s (%s): a lower layer imports a higher one",
					rel, Layers[from].Name, irel, Layers[to].Name))
			}
		}
	}
	return errs
}

func anyUnder(rel string, prefixes []string) bool {
	for _, p := range prefixes {
		if under(rel, p) {
			return true
		}
	}
	return false
}

func relative(pkg string) (string, bool) {
	if pkg == Module {
		return "", true
	}
	return strings.CutPrefix(pkg, Module+"/")
}
