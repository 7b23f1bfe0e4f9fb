package layering

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// No package of the module imports a layer above its own (non-test imports).
func TestModuleLayering(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, Module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr(err))
	var pkgs []string
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkgs = append(pkgs, f[0])
		imports[f[0]] = f[1:]
	}
	require.Greater(t, len(pkgs), 20, "the module's packages")
	for _, err := range Check(pkgs, imports) {
		t.Error(err)
	}
}

// The check fails on each kind of violation.
func TestCheckFindsViolations(t *testing.T) {
	m := func(rel string) string { return Module + "/" + rel }
	pkgs := []string{m("observer"), m("container"), m("export/stdout"), m("parser/http"), m("observer/calls"), m("newpkg"), m("cmd/netobserver")}
	errs := Check(pkgs, map[string][]string{
		m("observer"):        {m("export/prometheus"), m("container"), "fmt"},
		m("container"):       {m("record"), m("observer/aggregate")},
		m("export/stdout"):   {m("cgo/libebpf"), m("observer/config")},
		m("parser/http"):     {m("internal/testenv")},
		m("observer/calls"):  {m("parser"), m("abi")},
		m("cmd/netobserver"): {m("cgo/libebpf"), m("export/flushers"), m("internal/fileperm")},
	})
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	assert.Equal(t, []string{
		"observer (observer) imports export/prometheus (exporters): a lower layer imports a higher one",
		"container (metadata) imports observer/aggregate (observer): a lower layer imports a higher one",
		"export/stdout (exporters) imports cgo/libebpf (cgo), which only cmd, internal/replaytest, bpf/kerneltest may import",
		"parser/http (parsers) imports internal/testenv (test support), which only internal, cmd, bpf, tools may import",
		"newpkg: in no layer; add it to layering.Layers",
	}, got)
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
