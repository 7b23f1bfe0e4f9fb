package main

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netobserver/netobserver/export/otlp/otlptest"
	"github.com/netobserver/netobserver/internal/testenv"
)

// Real curl against a real nginx, observed live, reaches real OTLP receivers over gRPC and
// HTTP: the calls per status and role are curl's own count, with their attributes; the live
// latency histogram counts every call of each side, with explicit buckets over gRPC and as an
// exponential histogram over HTTP. The health endpoints beside /metrics say
// ready once capture runs.
func TestOTLPFromLiveTraffic(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 247)
	srv := n.ServerV4.String()
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	grpcRecv := otlptest.Start(t, "grpc", "127.0.0.1:0")
	httpRecv := otlptest.Start(t, "http", "127.0.0.1:0")
	metrics := freePort(t)
	// Only curl and nginx: the live histogram has no process attribute. (Other packages' curl to
	// nginx would still count: make test runs this package alone, after the others.)
	o := testenv.StartObserver(t, testenv.Pipeline{Common: `IncludeCmdRegex: "^(curl|nginx)( |:|$)"`, Flushers: fmt.Sprintf(`- Type: flusher_otlp
  Endpoint: "%s"
  Insecure: true
- Type: flusher_otlp
  Endpoint: "%s"
  Protocol: http
  Insecure: true
  Histogram: exponential
- Type: flusher_prometheus_exporter
  Listen: "%s"`, grpcRecv.Addr(), httpRecv.Addr(), metrics)}.String(), nil)

	probe := func(path string) (int, string) {
		resp, err := http.Get("http://" + metrics + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _ := probe("/readyz"); code == http.StatusOK || time.Now().After(deadline) {
			break
		}
	}
	code, body := probe("/readyz")
	assert.Equal(t, http.StatusOK, code, body)
	code, body = probe("/healthz")
	assert.Equal(t, http.StatusOK, code, body)

	var urls []string
	for range 7 {
		urls = append(urls, "http://"+srv+"/")
	}
	for range 3 {
		urls = append(urls, "http://"+srv+"/404")
	}
	testenv.Curl(t, n.Client, urls...) // fails the test unless every request got its answer
	o.Stop(t, 300*time.Millisecond)

	for _, r := range []*otlptest.Receiver{grpcRecv, httpRecv} {
		t.Run(r.Protocol, func(t *testing.T) {
			calls := r.Points("netobserver.l7.calls")
			for _, side := range []struct {
				role, peer string
				more       map[string]any
			}{
				{"server", n.ClientV4.String(), map[string]any{"netobserver.running_mode": "host"}},
				{"client", srv, map[string]any{"process.command": "curl", "service.name": "curl", "network.peer.port": int64(80), "netobserver.remote.type": "server"}},
			} {
				match := map[string]any{"network.protocol.name": "http", "netobserver.role": side.role, "network.peer.address": side.peer,
					"http.request.method": "GET", "server.address": srv, "network.protocol.version": "1.1"}
				for k, v := range side.more {
					match[k] = v
				}
				assert.EqualValues(t, 7, otlptest.Sum(calls, with(match, "http.response.status_code", int64(200), "url.path", "/")), side.role)
				assert.EqualValues(t, 3, otlptest.Sum(calls, with(match, "http.response.status_code", int64(404), "url.path", "/404")), side.role)
				assert.EqualValues(t, 3, otlptest.Sum(r.Points("netobserver.l7.errors"), with(match, "error.type", "404")), side.role)
			}
			counts := map[string]uint64{}
			for _, p := range r.Points("netobserver.l7.latency") {
				if r.Protocol == "http" {
					assert.Equal(t, "exponential_histogram", p.Kind)
					n := p.ZeroCount
					for _, c := range p.BucketCounts {
						n += c
					}
					assert.Equal(t, p.Count, n, "buckets and zero count add up to the count")
				} else {
					assert.Equal(t, "histogram", p.Kind)
				}
				if p.Attrs["network.protocol.name"] == "http" {
					counts[p.Attrs["netobserver.role"].(string)] = p.Count // cumulative: the last is the total
				}
			}
			assert.Equal(t, map[string]uint64{"client": 10, "server": 10}, counts)
		})
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}
