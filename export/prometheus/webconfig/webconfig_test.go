package webconfig

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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var serial int64

// sign gives tmpl a name, the next serial number and an hour of validity either side of now,
// and makes its key and certificate, signed by parent, or by itself when parent is nil.
func sign(t *testing.T, name string, tmpl *x509.Certificate, parent *ca) (der []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.Subject = pkix.Name{CommonName: name}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	require.NoError(t, err)
	return der, key
}

func newCA(t *testing.T, dir, name string) *ca {
	t.Helper()
	der, key := sign(t, name, &x509.Certificate{KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}, nil)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &ca{cert, key, pool}
}

// issue writes name.pem and name.key, a certificate for 127.0.0.1 signed by c, and returns it.
func (c *ca) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	der, key := sign(t, name, &x509.Certificate{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}, c)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".pem"), certPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".key"), keyPEM, 0o600))
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	return pair
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// serve serves a handler that answers "metrics" as the file at path says, and returns its address.
func serve(t *testing.T, path string) string {
	t.Helper()
	require.NoError(t, Check(path))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics") })}
	done := make(chan error, 1)
	go func() { done <- Serve(l, srv, path) }()
	t.Cleanup(func() {
		srv.Close()
		assert.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return l.Addr().String()
}

type result struct {
	code           int
	body, proto    string
	authenticate   string
	frameOptions   string
	serverCertName string
}

func get(t *testing.T, client *http.Client, url, user, password string) (result, error) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := result{code: resp.StatusCode, body: string(body), proto: resp.Proto,
		authenticate: resp.Header.Get("WWW-Authenticate"), frameOptions: resp.Header.Get("X-Frame-Options")}
	if resp.TLS != nil {
		r.serverCertName = resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	return r, nil
}

func tlsClient(roots *x509.CertPool, cert *tls.Certificate, http2 bool) *http.Client {
	c := &tls.Config{RootCAs: roots}
	if cert != nil {
		// Sent whoever signed it: Go's client would send none the server's CAs did not sign.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	// A new connection per request: each one is a handshake with the file as it is then.
	return &http.Client{Transport: &http.Transport{TLSClientConfig: c, ForceAttemptHTTP2: http2, DisableKeepAlives: true}}
}

// Every error names the line and key; keys of exporter-toolkit's format this package does not
// implement say so; the files tls_server_config names are read by Check.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	authority := newCA(t, dir, "ca")
	authority.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	write(t, filepath.Join(dir, "empty.pem"), "")
	tlsHead := "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
	for _, c := range []struct{ content, err string }{
		{"tls_server_config: [\n", "yaml: line 1: did not find expected node content"},
		{"- a\n", "line 1: the file: not a mapping"},
		{"[a]: b\n", "line 1: the file: a key is not a string"},
		{"rate_limit:\n  interval: 1s\n", "line 2: rate_limit is not supported: netobserver implements a subset of exporter-toolkit's web config (README, Security)"},
		{"basic_auth_user:\n  a: b\n", "line 2: unknown key basic_auth_user"},
		{tlsHead + "  cert_fil: x\n", "line 4: unknown key tls_server_config.cert_fil"},
		{tlsHead + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "line 4: tls_server_config.cipher_suites is not supported: netobserver implements a subset of exporter-toolkit's web config (README, Security)"},
		{tlsHead + "  curve_preferences: [X25519]\n", "line 4: tls_server_config.curve_preferences is not supported"},
		{tlsHead + "  client_allowed_sans: [a]\n", "line 4: tls_server_config.client_allowed_sans is not supported"},
		{tlsHead + "  prefer_server_cipher_suites: true\n", "line 4: tls_server_config.prefer_server_cipher_suites is not supported"},
		{"tls_server_config:\n  cert: x\n", "line 2: tls_server_config.cert is not supported"},
		{"tls_server_config:\n  key: x\n", "line 2: tls_server_config.key is not supported"},
		{"tls_server_config:\n  client_ca: x\n", "line 2: tls_server_config.client_ca is not supported"},
		{"tls_server_config:\n  cert_file: a\n  cert_file: b\n", "line 3: tls_server_config.cert_file appears twice"},
		{"tls_server_config:\n  cert_file: [a]\n", "line 2: tls_server_config.cert_file: not a single value"},
		{"tls_server_config:\n  cert_file: server.pem\n", "line 2: tls_server_config: needs both cert_file and key_file"},
		{"tls_server_config:\n  min_version: TLS13\n", "line 2: tls_server_config: needs both cert_file and key_file"},
		{tlsHead + "  min_version: TLS1.3\n", `line 4: tls_server_config.min_version: "TLS1.3" is not one of TLS10, TLS11, TLS12, TLS13`},
		{tlsHead + "  max_version: SSL3\n", `line 4: tls_server_config.max_version: "SSL3" is not one of TLS10, TLS11, TLS12, TLS13`},
		{tlsHead + "  min_version: TLS13\n  max_version: TLS12\n", "line 2: tls_server_config: min_version is above max_version"},
		{tlsHead + "  client_auth_type: RequireClientCert\n", `line 4: tls_server_config.client_auth_type: "RequireClientCert" is not one of NoClientCert, RequestClientCert, RequireAndVerifyClientCert, RequireAnyClientCert, VerifyClientCertIfGiven`},
		{tlsHead + "  client_ca_file: ca.pem\n", "line 2: tls_server_config: client_ca_file without a client_auth_type that asks for a client certificate"},
		{tlsHead + "  client_auth_type: RequireAndVerifyClientCert\n", "line 2: tls_server_config: client_auth_type RequireAndVerifyClientCert needs client_ca_file, the CA that signs the client certificates"},
		{tlsHead + "  client_auth_type: VerifyClientCertIfGiven\n", "line 2: tls_server_config: client_auth_type VerifyClientCertIfGiven needs client_ca_file"},
		{tlsHead + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: empty.pem\n", "tls_server_config: client_ca_file " + dir + "/empty.pem holds no PEM certificate"},
		{tlsHead + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: absent.pem\n", "tls_server_config: client_ca_file: open " + dir + "/absent.pem: no such file or directory"},
		{"tls_server_config:\n  cert_file: absent.pem\n  key_file: server.key\n", "tls_server_config: cert_file " + dir + "/absent.pem, key_file " + dir + "/server.key: open " + dir + "/absent.pem: no such file or directory"},
		{"tls_server_config:\n  cert_file: server.pem\n  key_file: ca.pem\n", "tls_server_config: cert_file " + dir + "/server.pem, key_file " + dir + "/ca.pem: tls: found a certificate rather than a key in the PEM for the private key"},
		{"http_server_config:\n  http2: maybe\n", `line 2: http_server_config.http2: "maybe" is not true or false`},
		{"http_server_config:\n  headers:\n    X-Powered-By: netobserver\n", "line 3: http_server_config.headers.X-Powered-By: not a header the web config can set (Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection)"},
		{"http_server_config:\n  headers:\n    X-Frame-Options: allow\n", `line 3: http_server_config.headers.X-Frame-Options: "allow" is not one of deny, sameorigin`},
		{"http_server_config:\n  http3: true\n", "line 2: unknown key http_server_config.http3"},
		{"basic_auth_users:\n  prometheus: secret-in-plain-text\n", "line 2: basic_auth_users.prometheus: not a bcrypt hash (htpasswd -nBC 10 \"\" | tr -d ':\\n' makes one): crypto/bcrypt: hashedSecret too short to be a bcrypted password"},
		{"basic_auth_users: [prometheus]\n", "line 1: basic_auth_users: not a mapping"},
	} {
		path := filepath.Join(dir, "web.yml")
		write(t, path, c.content)
		err := Check(path)
		if assert.Error(t, err, c.content) {
			assert.Contains(t, err.Error(), c.err, c.content)
			assert.NotContains(t, err.Error(), "secret-in-plain-text", "a password in the file stays out of the error")
		}
	}
	big := filepath.Join(dir, "big.yml")
	write(t, big, "#"+strings.Repeat("x", maxFileSize))
	assert.EqualError(t, Check(big), "larger than 1048576 bytes")
	assert.EqualError(t, Check(filepath.Join(dir, "absent.yml")), "open "+dir+"/absent.yml: no such file or directory")
	for _, ok := range []string{"", "# nothing\n", "tls_server_config:\nbasic_auth_users: {}\n"} {
		write(t, filepath.Join(dir, "web.yml"), ok)
		assert.NoError(t, Check(filepath.Join(dir, "web.yml")), ok)
	}
	assert.NoError(t, Check(""))
}

// RequireAndVerifyClientCert with a CA: a client with a certificate that CA signed gets the
// metrics; without a certificate, or with another CA's, the handshake fails.
func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	authority := newCA(t, dir, "ca")
	authority.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	client := authority.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	stranger := newCA(t, dir, "other-ca").issue(t, dir, "stranger", x509.ExtKeyUsageClientAuth)
	path := filepath.Join(dir, "web.yml")
	write(t, path, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"+
		"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n")
	url := "https://" + serve(t, path) + "/metrics"

	r, err := get(t, tlsClient(authority.pool, &client, false), url, "", "")
	require.NoError(t, err)
	assert.Equal(t, result{code: 200, body: "metrics", proto: "HTTP/1.1", serverCertName: "server"}, r)

	_, err = get(t, tlsClient(authority.pool, nil, false), url, "", "")
	assert.ErrorContains(t, err, "remote error: tls: certificate required")
	_, err = get(t, tlsClient(authority.pool, &stranger, false), url, "", "")
	assert.ErrorContains(t, err, "remote error: tls: unknown certificate authority")
}

// Basic auth without TLS: the right password gets the metrics, anything else 401 with a
// WWW-Authenticate header; headers from the file are on every response. Users change with the
// file, without a restart.
func TestBasicAuthAlone(t *testing.T) {
	dir := t.TempDir()
	hash := func(p string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		require.NoError(t, err)
		return string(h)
	}
	path := filepath.Join(dir, "web.yml")
	write(t, path, "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"+
		"basic_auth_users:\n  prometheus: "+hash("scrape-pass")+"\n  other: "+hash("other-pass")+"\n")
	url := "http://" + serve(t, path) + "/metrics"
	client := &http.Client{}

	denied := result{code: 401, body: "Unauthorized\n", proto: "HTTP/1.1", authenticate: `Basic realm="netobserver", charset="UTF-8"`, frameOptions: "deny"}
	for range 2 { // the second time from the cache
		r, err := get(t, client, url, "prometheus", "scrape-pass")
		require.NoError(t, err)
		assert.Equal(t, result{code: 200, body: "metrics", proto: "HTTP/1.1", frameOptions: "deny"}, r)
		for _, c := range [][2]string{{"prometheus", "other-pass"}, {"other", "scrape-pass"}, {"nobody", "scrape-pass"}, {"", ""}, {"prometheus", ""}} {
			r, err := get(t, client, url, c[0], c[1])
			require.NoError(t, err)
			assert.Equal(t, denied, r, "%q", c)
		}
	}

	write(t, path, "basic_auth_users:\n  prometheus: "+hash("new-pass")+"\n")
	r, err := get(t, client, url, "prometheus", "scrape-pass")
	require.NoError(t, err)
	assert.Equal(t, 401, r.code, "the old password, cached, no longer passes")
	r, err = get(t, client, url, "prometheus", "new-pass")
	require.NoError(t, err)
	assert.Equal(t, 200, r.code)

	write(t, path, "basic_auth_users: [\n")
	r, err = get(t, client, url, "prometheus", "new-pass")
	require.NoError(t, err)
	assert.Equal(t, result{code: 500, body: "Internal Server Error\n", proto: "HTTP/1.1"}, r, "an unusable file serves nothing")
	write(t, path, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n")
	r, err = get(t, client, url, "", "")
	require.NoError(t, err)
	assert.Equal(t, 500, r.code, "TLS turned on in the file: nothing served in plain HTTP until a restart")
	write(t, path, "")
	r, err = get(t, client, url, "", "")
	require.NoError(t, err)
	assert.Equal(t, result{code: 200, body: "metrics", proto: "HTTP/1.1"}, r, "no users: no authentication")
}

// TLS and basic auth together: the right user and password get the metrics over HTTPS; a wrong
// password, another user or none get 401; plain HTTP to the TLS port gets 400 and no metrics.
func TestTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	authority := newCA(t, dir, "ca")
	authority.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	require.NoError(t, err)
	path := filepath.Join(dir, "web.yml")
	write(t, path, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"+
		"basic_auth_users:\n  prometheus: "+string(hash)+"\n")
	addr := serve(t, path)
	client := tlsClient(authority.pool, nil, false)

	r, err := get(t, client, "https://"+addr+"/metrics", "prometheus", "scrape-pass")
	require.NoError(t, err)
	assert.Equal(t, result{code: 200, body: "metrics", proto: "HTTP/1.1", serverCertName: "server"}, r)
	denied := result{code: 401, body: "Unauthorized\n", proto: "HTTP/1.1", authenticate: `Basic realm="netobserver", charset="UTF-8"`, serverCertName: "server"}
	for _, c := range [][2]string{{"prometheus", "wrong"}, {"other", "scrape-pass"}, {"", ""}} {
		r, err := get(t, client, "https://"+addr+"/metrics", c[0], c[1])
		require.NoError(t, err)
		assert.Equal(t, denied, r, "%q", c)
	}

	r, err = get(t, &http.Client{}, "http://"+addr+"/metrics", "", "")
	require.NoError(t, err)
	assert.Equal(t, 400, r.code, "plain HTTP to the TLS port")
	assert.NotContains(t, r.body, "metrics")
}

// The cache of successful checks holds at most maxCachedLogins, and no failed check.
func TestLoginCacheBounded(t *testing.T) {
	s := &server{logins: map[[32]byte]struct{}{}}
	var users []User
	for i := range 100 {
		h, err := bcrypt.GenerateFromPassword([]byte("pass"+strconv.Itoa(i)), bcrypt.MinCost)
		require.NoError(t, err)
		users = append(users, User{Name: "user" + strconv.Itoa(i), Hash: h})
	}
	for i := range 100 {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth("user"+strconv.Itoa(i), "wrong")
		assert.False(t, s.authorized(users, r))
	}
	assert.Empty(t, s.logins)
	for i := range 100 {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth("user"+strconv.Itoa(i), "pass"+strconv.Itoa(i))
		assert.True(t, s.authorized(users, r))
	}
	assert.Len(t, s.logins, maxCachedLogins)
}

// TLS without authentication; the certificate is read again for each handshake; http2 is on
// unless http2: false; min_version is enforced.
func TestTLSAlone(t *testing.T) {
	dir := t.TempDir()
	authority := newCA(t, dir, "ca")
	authority.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	path := filepath.Join(dir, "web.yml")
	write(t, path, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS13\n")
	url := "https://" + serve(t, path) + "/metrics"

	r, err := get(t, tlsClient(authority.pool, nil, true), url, "", "")
	require.NoError(t, err)
	assert.Equal(t, result{code: 200, body: "metrics", proto: "HTTP/2.0", serverCertName: "server"}, r)

	tls12 := tlsClient(authority.pool, nil, false)
	tls12.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS12
	_, err = get(t, tls12, url, "", "")
	assert.ErrorContains(t, err, "remote error: tls: protocol version not supported")

	authority.issue(t, dir, "renewed", x509.ExtKeyUsageServerAuth)
	require.NoError(t, os.Rename(filepath.Join(dir, "renewed.pem"), filepath.Join(dir, "server.pem")))
	require.NoError(t, os.Rename(filepath.Join(dir, "renewed.key"), filepath.Join(dir, "server.key")))
	r, err = get(t, tlsClient(authority.pool, nil, true), url, "", "")
	require.NoError(t, err)
	assert.Equal(t, "renewed", r.serverCertName, "the next handshake has the new certificate")

	for _, content := range []string{"tls_server_config:\n  cert_file: server.pem\n", "", "tls_server_config:\n  cert_file: server.pem\n  key_file: absent.key\n"} {
		write(t, path, content)
		_, err = get(t, tlsClient(authority.pool, nil, true), url, "", "")
		assert.ErrorContains(t, err, "remote error: tls: internal error", "%q: an unusable file, or TLS turned off: no handshake", content)
	}
}

func TestHTTP2Off(t *testing.T) {
	dir := t.TempDir()
	authority := newCA(t, dir, "ca")
	authority.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	path := filepath.Join(dir, "web.yml")
	write(t, path, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nhttp_server_config:\n  http2: false\n")
	r, err := get(t, tlsClient(authority.pool, nil, true), "https://"+serve(t, path)+"/metrics", "", "")
	require.NoError(t, err)
	assert.Equal(t, result{code: 200, body: "metrics", proto: "HTTP/1.1", serverCertName: "server"}, r)
}
