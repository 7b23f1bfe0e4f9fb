package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/netobserver/netobserver/internal/replaytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// Fields that change from run to run or host to host.
var (
	lineDate = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d `)
	unixTime = regexp.MustCompile(`"__time__":"\d+"|"Time":\d+`)
	connID   = regexp.MustCompile(`"conn_id":"\d+"|"Key":"conn_id","Value":"\d+"`)
)

func normalise(out string) string {
	out = lineDate.ReplaceAllString(out, "YYYY-MM-DD hh:mm:ss ")
	out = unixTime.ReplaceAllStringFunc(out, func(s string) string {
		if s[0] == '{' || s[1] == 'T' {
			return `"Time":0`
		}
		return `"__time__":"0"`
	})
	return connID.ReplaceAllStringFunc(out, func(s string) string {
		if s[1] == 'K' {
			return `"Key":"conn_id","Value":"<conn_id>"`
		}
		return `"conn_id":"<conn_id>"`
	})
}

// Each config runs testdata/golden/all-protocols.trace through the whole binary — replay library,
// cgo layer, reassembly, parsers, aggregation, flusher — and must print exactly its golden file.
func TestGoldenRecords(t *testing.T) {
	trace := "../../testdata/golden/all-protocols.trace"
	for _, tc := range []struct{ name, config string }{
		{"example", "../../testdata/config/example.yaml"}, // the seed documentation's config, unchanged
		{"schema-b", "../../testdata/golden/schema-b.yaml"},
		{"tags-caps", "../../testdata/golden/tags-caps.yaml"},
		{"no-filters", "../../testdata/golden/no-filters.yaml"},
		{"http-only", "../../testdata/golden/http-only.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run([]string{"--config", tc.config, "--source", "replay:" + trace, "--libebpf", replaytest.Library(t)}, &out, &errb)
			require.Equal(t, 0, code, errb.String())
			got := normalise(out.String())
			golden := filepath.Join("../../testdata/golden", tc.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./cmd/netobserver -run TestGoldenRecords -update to create it")
			assert.Equal(t, string(want), got)
		})
	}
}
