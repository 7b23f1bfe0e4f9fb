package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --pprof serves the runtime's profiles in the format go tool pprof reads (gzipped protobuf), and
// 404 for a name that is not one.
func TestPprof(t *testing.T) {
	addr, err := servePprof("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	get := func(path string) (int, []byte) {
		resp, err := http.Get("http://" + addr.String() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, body
	}
	for _, p := range []string{"/debug/pprof/heap?gc=1", "/debug/pprof/goroutine", "/debug/pprof/profile?seconds=1"} {
		code, body := get(p)
		assert.Equal(t, http.StatusOK, code, p)
		assert.True(t, bytes.HasPrefix(body, []byte{0x1f, 0x8b}), "%s: gzip", p)
	}
	code, _ := get("/debug/pprof/nothing")
	assert.Equal(t, http.StatusNotFound, code)
}
