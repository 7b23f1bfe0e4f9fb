package prometheus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and returns a pool that
// trusts it.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "netobserver test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// An exporter-toolkit web config turns on TLS and basic auth: the right user and password get
// the metrics over HTTPS; a wrong password, another user or none get 401; plain HTTP gets none.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	require.NoError(t, err)
	webConfig := filepath.Join(dir, "web.yml")
	// Relative paths are the web config file's directory's, as in every Prometheus exporter.
	require.NoError(t, os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"+
		"basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600))

	e := New()
	e.ObserveCall("http", "client", true, time.Millisecond, 1, 1)
	addr, err := e.Listen("127.0.0.1:0", "/metrics", webConfig)
	require.NoError(t, err)
	defer e.Close()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(user, pass string) (int, string) {
		req, err := http.NewRequest("GET", "https://"+addr.String()+"/metrics", nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("prometheus", "scrape-pass")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `netobserver_l7_calls_total{protocol="http",role="client",outcome="success"} 1`)
	for _, c := range [][2]string{{"prometheus", "wrong"}, {"other", "scrape-pass"}, {"", ""}} {
		code, body := get(c[0], c[1])
		assert.Equal(t, http.StatusUnauthorized, code, "%q", c)
		assert.NotContains(t, body, "netobserver_", "%q", c)
	}

	resp, err := http.Get("http://" + addr.String() + "/metrics")
	require.NoError(t, err)
	body2, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to the TLS port")
	assert.NotContains(t, string(body2), "netobserver_")
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
