package prometheus

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netobserver/netobserver/observer/live"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// Listen serves through its web config: with basic_auth_users, the right user and password get
// the metrics; a wrong password, another user or none get 401. Package webconfig tests the rest
// of the format (TLS, client certificates, headers) on the same Serve.
func TestWebConfigBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	require.NoError(t, err)
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	require.NoError(t, os.WriteFile(webConfig, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600))

	e := New()
	e.Call(live.Call{Protocol: "http", Role: "client", Success: true, Latency: time.Millisecond, RequestBytes: 1, ResponseBytes: 1})
	addr, err := e.Listen("127.0.0.1:0", "/metrics", webConfig)
	require.NoError(t, err)
	defer e.Close()

	get := func(user, pass string) (int, string) {
		req, err := http.NewRequest("GET", "http://"+addr.String()+"/metrics", nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("prometheus", "scrape-pass")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `netobserver_l7_calls_total{outcome="success",protocol="http",role="client"} 1`)
	for _, c := range [][2]string{{"prometheus", "wrong"}, {"other", "scrape-pass"}, {"", ""}} {
		code, body := get(c[0], c[1])
		assert.Equal(t, http.StatusUnauthorized, code, "%q", c)
		assert.NotContains(t, body, "netobserver_", "%q", c)
	}
}

// A web config that cannot be used fails Listen, before anything is served.
func TestBadWebConfigFailsListen(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"missing-cert.yml":   "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n",
		"bad-yaml.yml":       "tls_server_config: [\n",
		"plain-password.yml": "basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n",
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		_, err := New().Listen("127.0.0.1:0", "/metrics", path)
		assert.ErrorContains(t, err, "flusher_prometheus_exporter: WebConfigFile "+path, name)
	}
	_, err := New().Listen("127.0.0.1:0", "/metrics", filepath.Join(dir, "absent.yml"))
	assert.ErrorContains(t, err, "absent.yml")
}
