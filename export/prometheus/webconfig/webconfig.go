// Package webconfig reads the web configuration file of Prometheus exporters (the format of
// github.com/prometheus/exporter-toolkit, node_exporter's --web.config.file) and serves HTTP as it
// says: TLS with optional client certificates, basic auth with bcrypt hashes, response headers.
//
// It implements a strict subset of that format, without importing exporter-toolkit: the toolkit
// requires prometheus/common, client_golang, procfs, protobuf and x/oauth2, and every requirement
// of this module reaches the build of iLogtail with the netobserver plugin. Keys of the format it
// does not implement are errors that say so; keys the format does not have are errors too.
package webconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// maxFileSize bounds what one read of the file costs; real files are a few hundred bytes.
const maxFileSize = 1 << 20

// Config is one reading of a web configuration file.
type Config struct {
	// TLS is nil when the file has no tls_server_config: plain HTTP.
	TLS *TLS
	// HTTP2 is http_server_config.http2 (default true); it only applies with TLS.
	HTTP2 bool
	// Headers are set on every response (http_server_config.headers).
	Headers map[string]string
	// Users are basic_auth_users; none: no authentication.
	Users []User
}

// User is one entry of basic_auth_users.
type User struct {
	Name string
	// Hash is the password's bcrypt hash.
	Hash []byte
}

// TLS is tls_server_config.
type TLS struct {
	// CertFile, KeyFile and ClientCAFile are absolute, or relative to the working directory:
	// relative paths in the file are the file's directory's.
	CertFile, KeyFile, ClientCAFile string
	ClientAuth                      tls.ClientAuthType
	MinVersion, MaxVersion          uint16
}

var clientAuthTypes = map[string]tls.ClientAuthType{
	"NoClientCert":               tls.NoClientCert,
	"RequestClientCert":          tls.RequestClientCert,
	"RequireAnyClientCert":       tls.RequireAnyClientCert,
	"VerifyClientCertIfGiven":    tls.VerifyClientCertIfGiven,
	"RequireAndVerifyClientCert": tls.RequireAndVerifyClientCert,
}

var tlsVersions = map[string]uint16{
	"TLS10": tls.VersionTLS10,
	"TLS11": tls.VersionTLS11,
	"TLS12": tls.VersionTLS12,
	"TLS13": tls.VersionTLS13,
}

// headerValues are the headers http_server_config.headers may set, with the values each may take
// (nil: any), as exporter-toolkit allows them.
var headerValues = map[string][]string{
	"Content-Security-Policy":   nil,
	"Strict-Transport-Security": nil,
	"X-Content-Type-Options":    {"nosniff"},
	"X-Frame-Options":           {"deny", "sameorigin"},
	"X-XSS-Protection":          nil,
}

// unsupported are the keys of exporter-toolkit's format this package does not implement.
var unsupported = map[string]bool{
	"rate_limit":                                    true,
	"tls_server_config.cert":                        true,
	"tls_server_config.key":                         true,
	"tls_server_config.client_ca":                   true,
	"tls_server_config.client_allowed_sans":         true,
	"tls_server_config.cipher_suites":               true,
	"tls_server_config.prefer_server_cipher_suites": true,
	"tls_server_config.curve_preferences":           true,
}

// Check reads the file at path and the certificates and keys it names, and reports the first
// thing that makes it unusable. "" (no file: plain HTTP, no authentication) is valid.
func Check(path string) error {
	if path == "" {
		return nil
	}
	c, err := Load(path)
	if err != nil {
		return err
	}
	if c.TLS != nil {
		_, err = c.TLS.Config()
	}
	return err
}

// Load reads the file at path. It checks everything but the files tls_server_config names:
// TLS.Config reads those.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return parse(data, filepath.Dir(path))
}

// Config reads the certificate, key and client CAs and returns the server's TLS configuration.
func (t *TLS) Config() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls_server_config: cert_file %s, key_file %s: %w", t.CertFile, t.KeyFile, err)
	}
	c := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   t.ClientAuth,
		MinVersion:   t.MinVersion,
		MaxVersion:   t.MaxVersion,
	}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls_server_config: client_ca_file: %w", err)
		}
		c.ClientCAs = x509.NewCertPool()
		if !c.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_server_config: client_ca_file %s holds no PEM certificate", t.ClientCAFile)
		}
	}
	return c, nil
}

func parse(data []byte, dir string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	c := &Config{HTTP2: true}
	if len(doc.Content) == 0 {
		return c, nil // an empty file, as exporter-toolkit takes it
	}
	var t *TLS
	err := mapping(doc.Content[0], "", map[string]func(*yaml.Node, string) error{
		"tls_server_config": func(n *yaml.Node, at string) (err error) {
			t, err = parseTLS(n, at, dir)
			return err
		},
		"http_server_config": func(n *yaml.Node, at string) error {
			return mapping(n, at, map[string]func(*yaml.Node, string) error{
				"http2": func(n *yaml.Node, at string) error { return scalar(n, at, &c.HTTP2) },
				"headers": func(n *yaml.Node, at string) error {
					c.Headers = map[string]string{}
					return each(n, at, func(name string, n *yaml.Node, at string) error {
						var v string
						if err := scalar(n, at, &v); err != nil {
							return err
						}
						allowed, ok := headerValues[name]
						if !ok {
							return fmt.Errorf("line %d: %s: not a header the web config can set (%s)", n.Line, at, strings.Join(sortedKeys(headerValues), ", "))
						}
						if allowed != nil && !slices.Contains(allowed, v) {
							return fmt.Errorf("line %d: %s: %q is not one of %s", n.Line, at, v, strings.Join(allowed, ", "))
						}
						c.Headers[name] = v
						return nil
					})
				},
			})
		},
		"basic_auth_users": func(n *yaml.Node, at string) error {
			return each(n, at, func(name string, n *yaml.Node, at string) error {
				var hash string
				if err := scalar(n, at, &hash); err != nil {
					return err
				}
				// The error names the user, never the hash.
				if _, err := bcrypt.Cost([]byte(hash)); err != nil {
					return fmt.Errorf("line %d: %s: not a bcrypt hash (htpasswd -nBC 10 \"\" | tr -d ':\\n' makes one): %v", n.Line, at, err)
				}
				c.Users = append(c.Users, User{Name: name, Hash: []byte(hash)})
				return nil
			})
		},
	})
	c.TLS = t
	return c, err
}

func parseTLS(n *yaml.Node, at, dir string) (*TLS, error) {
	if isNull(n) {
		return nil, nil
	}
	t := &TLS{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	var clientAuth string
	file := func(dst *string) func(*yaml.Node, string) error {
		return func(n *yaml.Node, at string) error {
			if err := scalar(n, at, dst); err != nil {
				return err
			}
			if *dst != "" && !filepath.IsAbs(*dst) {
				*dst = filepath.Join(dir, *dst)
			}
			return nil
		}
	}
	version := func(dst *uint16) func(*yaml.Node, string) error {
		return func(n *yaml.Node, at string) error {
			var s string
			if err := scalar(n, at, &s); err != nil {
				return err
			}
			v, ok := tlsVersions[s]
			if !ok {
				return fmt.Errorf("line %d: %s: %q is not one of %s", n.Line, at, s, strings.Join(sortedKeys(tlsVersions), ", "))
			}
			*dst = v
			return nil
		}
	}
	err := mapping(n, at, map[string]func(*yaml.Node, string) error{
		"cert_file":      file(&t.CertFile),
		"key_file":       file(&t.KeyFile),
		"client_ca_file": file(&t.ClientCAFile),
		"min_version":    version(&t.MinVersion),
		"max_version":    version(&t.MaxVersion),
		"client_auth_type": func(n *yaml.Node, at string) error {
			if err := scalar(n, at, &clientAuth); err != nil {
				return err
			}
			v, ok := clientAuthTypes[clientAuth]
			if !ok {
				return fmt.Errorf("line %d: %s: %q is not one of %s", n.Line, at, clientAuth, strings.Join(sortedKeys(clientAuthTypes), ", "))
			}
			t.ClientAuth = v
			return nil
		},
	})
	switch {
	case err != nil:
		return nil, err
	case t.CertFile == "" || t.KeyFile == "":
		return nil, fmt.Errorf("line %d: %s: needs both cert_file and key_file", n.Line, at)
	case t.MinVersion > t.MaxVersion:
		return nil, fmt.Errorf("line %d: %s: min_version is above max_version", n.Line, at)
	case t.ClientCAFile != "" && t.ClientAuth == tls.NoClientCert:
		return nil, fmt.Errorf("line %d: %s: client_ca_file without a client_auth_type that asks for a client certificate", n.Line, at)
	case t.ClientCAFile == "" && (t.ClientAuth == tls.VerifyClientCertIfGiven || t.ClientAuth == tls.RequireAndVerifyClientCert):
		// Go would verify client certificates against the host's roots: any public CA's client.
		return nil, fmt.Errorf("line %d: %s: client_auth_type %s needs client_ca_file, the CA that signs the client certificates", n.Line, at, clientAuth)
	}
	return t, nil
}

// mapping calls the function of each key of the mapping n (null: none); a key without one is an
// error, one of exporter-toolkit's format an error that says it is not supported.
func mapping(n *yaml.Node, at string, keys map[string]func(*yaml.Node, string) error) error {
	return each(n, at, func(key string, v *yaml.Node, path string) error {
		if f := keys[key]; f != nil {
			return f(v, path)
		}
		if unsupported[path] {
			return fmt.Errorf("line %d: %s is not supported: netobserver implements a subset of exporter-toolkit's web config (README, Security)", v.Line, path)
		}
		return fmt.Errorf("line %d: unknown key %s", v.Line, path)
	})
}

// each calls f for each key and value of the mapping n (null: none), with the value's dotted
// path; a key may appear once.
func each(n *yaml.Node, at string, f func(key string, v *yaml.Node, path string) error) error {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: not a mapping", n.Line, orTop(at))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: a key is not a string", k.Line, orTop(at))
		}
		path := k.Value
		if at != "" {
			path = at + "." + k.Value
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: %s appears twice", k.Line, path)
		}
		seen[k.Value] = true
		if err := f(k.Value, resolve(n.Content[i+1]), path); err != nil {
			return err
		}
	}
	return nil
}

func scalar(n *yaml.Node, at string, dst any) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %s: not a single value", n.Line, at)
	}
	if err := n.Decode(dst); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("line %d: %s: %q is not true or false", n.Line, at, n.Value)
		}
		return fmt.Errorf("line %d: %s: %w", n.Line, at, err)
	}
	return nil
}

func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func orTop(at string) string {
	if at == "" {
		return "the file"
	}
	return at
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
