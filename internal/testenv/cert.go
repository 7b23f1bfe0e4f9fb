package testenv

import (
	"path/filepath"
	"testing"
)

// SelfSignedCert makes a one-day self-signed P-256 certificate and its key (crt.pem, key.pem) in
// dir with openssl; extra goes to `openssl req` (e.g. "-addext", "subjectAltName=IP:…").
func SelfSignedCert(t testing.TB, dir, cn string, extra ...string) (crt, key string) {
	t.Helper()
	crt, key = filepath.Join(dir, "crt.pem"), filepath.Join(dir, "key.pem")
	args := []string{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=" + cn}
	Run(t, "openssl", append(args, extra...)...)
	return crt, key
}
