package kerneltest

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The kernel side tells HTTP/2 over cleartext from the first bytes of each direction: h2load's
// client preface, nginx's SETTINGS. Both sides' connections carry ProtoHTTP2 from their first
// event.
func TestHTTP2Detected(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	addr := n.ServerV4.String()
	nginx := testenv.NginxHTTP(t, n.Server, n.ServerV4, fmt.Sprintf(`access_log off;
server {
	listen %s:80 http2;
	location / { default_type text/plain; return 200 "hello\n"; }
}
`, addr))
	c := startCapture(t, nil)

	cmd := testenv.Command(n.Client, "h2load", "-n", "20", "-c", "2", "-m", "4", "http://"+addr+"/x")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Regexp(t, regexp.MustCompile(`requests: 20 total, 20 started, 20 done, 20 succeeded`), string(out))

	for _, side := range []struct {
		name  string
		pid   int
		conns int
	}{{"h2load", cmd.Process.Pid, 2}, {"nginx", nginx.Process.Pid, 2}} {
		t.Run(side.name, func(t *testing.T) {
			evs := c.waitFor(t, side.pid, "the connections' close", func(e []event) bool { return closedConns(e) >= side.conns })
			seen := 0
			for _, cv := range conversations(evs) {
				if len(cv.egress) == 0 || len(cv.ingress) == 0 {
					continue
				}
				seen++
				for _, d := range append(cv.egress, cv.ingress...) {
					assert.Equal(t, abi.ProtoHTTP2, d.Protocol, "%q", d.Payload[:min(len(d.Payload), 40)])
				}
			}
			require.Equal(t, side.conns, seen, describe(evs))
		})
	}
}
