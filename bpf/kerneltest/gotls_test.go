package kerneltest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/netobserver/netobserver/observer/gotls"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// gotlspairReport is tools/gotlspair's own account of its requests.
type gotlspairReport struct {
	Requests    int            `json:"requests"`
	Calls       map[string]int `json:"calls"`
	Connections int            `json:"connections"`
	Protocols   map[string]int `json:"protocols"`
	Errors      int            `json:"errors"`
}

// selfSigned writes a certificate for ip and its key (PEM) into dir.
func selfSigned(t *testing.T, dir string, ip net.IP) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gotlspair"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{ip}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return cert, key
}

// plaintext is one direction of a connection as its data events carry it, a chunk's missing bytes
// (a body sent as its size) filled with zeros. Events are in stream order by pos (the end of the
// call they came from), a call's chunks in the order they arrived.
func plaintext(ds []*abi.DataEvent) ([]byte, error) {
	sorted := append([]*abi.DataEvent(nil), ds...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Pos < sorted[j].Pos })
	var b []byte
	for _, d := range sorted {
		b = append(b, d.Payload...)
		b = append(b, make([]byte, int(d.OrgMsgSize)-len(d.Payload))...)
	}
	if len(sorted) > 0 && sorted[len(sorted)-1].Pos != uint64(len(b)) {
		return nil, fmt.Errorf("the stream has holes: %d bytes up to pos %d", len(b), sorted[len(sorted)-1].Pos)
	}
	return b, nil
}

// h1Calls reads the HTTP/1.1 requests of out and the responses of in, pairing them in order, as
// "METHOD PATH STATUS" counts.
func h1Calls(out, in []byte) (map[string]int, error) {
	var reqs []*http.Request
	rd := bufio.NewReader(bytes.NewReader(out))
	for {
		r, err := http.ReadRequest(rd)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("request %d: %w", len(reqs), err)
		}
		if _, err = io.Copy(io.Discard, r.Body); err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	calls := map[string]int{}
	rd = bufio.NewReader(bytes.NewReader(in))
	for i := 0; ; i++ {
		if _, err := rd.Peek(1); err == io.EOF {
			if i != len(reqs) {
				return nil, fmt.Errorf("%d requests, %d responses", len(reqs), i)
			}
			return calls, nil
		}
		if i == len(reqs) {
			return nil, fmt.Errorf("a response without a request")
		}
		resp, err := http.ReadResponse(rd, reqs[i])
		if err != nil {
			return nil, fmt.Errorf("response %d: %w", i, err)
		}
		if _, err = io.Copy(io.Discard, resp.Body); err != nil {
			return nil, err
		}
		calls[fmt.Sprintf("%s %s %d", reqs[i].Method, reqs[i].URL.Path, resp.StatusCode)]++
	}
}

// h2Calls reads the HTTP/2 frames the client sent (from its preface on) and received, decodes
// their header blocks (HPACK, a dynamic table per direction) and pairs each stream's request
// (:method, :path) with its response's :status.
func h2Calls(clientOut, clientIn []byte) (map[string]int, error) {
	preface := []byte(http2.ClientPreface)
	if !bytes.HasPrefix(clientOut, preface) {
		return nil, fmt.Errorf("no client preface: %q", clientOut[:min(len(clientOut), 32)])
	}
	headers := func(b []byte) (map[uint32][]hpack.HeaderField, error) {
		fr := http2.NewFramer(nil, bytes.NewReader(b))
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		fr.MaxHeaderListSize = 1 << 20
		out := map[uint32][]hpack.HeaderField{}
		for {
			f, err := fr.ReadFrame()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			if mh, ok := f.(*http2.MetaHeadersFrame); ok {
				if _, seen := out[mh.StreamID]; !seen { // trailers come later on the stream
					out[mh.StreamID] = mh.Fields
				}
			}
		}
	}
	reqs, err := headers(clientOut[len(preface):])
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	resps, err := headers(clientIn)
	if err != nil {
		return nil, fmt.Errorf("responses: %w", err)
	}
	if len(reqs) != len(resps) {
		return nil, fmt.Errorf("%d streams with a request, %d with a response", len(reqs), len(resps))
	}
	calls := map[string]int{}
	for id, fields := range reqs {
		var method, path, status string
		for _, f := range fields {
			switch f.Name {
			case ":method":
				method = f.Value
			case ":path":
				path = f.Value
			}
		}
		for _, f := range resps[id] {
			if f.Name == ":status" {
				status = f.Value
			}
		}
		if status == "" {
			return nil, fmt.Errorf("stream %d has no response", id)
		}
		calls[method+" "+path+" "+status]++
	}
	return calls, nil
}

// tlsCalls is the calls of every connection of a process with plaintext, and how many
// connections had some.
func tlsCalls(evs []event, client, http1 bool) (map[string]int, int, error) {
	calls, conns := map[string]int{}, 0
	for _, cv := range conversations(evs) {
		if len(cv.egress) == 0 && len(cv.ingress) == 0 {
			continue
		}
		conns++
		out, err := plaintext(cv.egress)
		if err != nil {
			return nil, 0, err
		}
		in, err := plaintext(cv.ingress)
		if err != nil {
			return nil, 0, err
		}
		if !client {
			out, in = in, out
		}
		var got map[string]int
		if http1 {
			got, err = h1Calls(out, in)
		} else {
			got, err = h2Calls(out, in)
		}
		if err != nil {
			return nil, 0, err
		}
		for k, v := range got {
			calls[k] += v
		}
	}
	return calls, conns, nil
}

// TestGoTLS: tools/gotlspair's client and server (Go's crypto/tls, net/http) talk HTTPS across two
// network namespaces with the Go TLS probes attached to the binary both run. On both sides the
// plaintext of every connection is recorded, and the calls read from it — method, path, status —
// are exactly the client's own count, over HTTP/2 (ALPN) and HTTP/1.1, with the ring buffer and
// the perf buffer builds of the return probe.
func TestGoTLS(t *testing.T) {
	pair := testenv.BuildTool(t, "gotlspair")
	bin, err := gotls.Inspect(pair)
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		http1 bool
		hook  string // NETOBSERVER_BPF_HOOK: raw_tp has the perf buffer build of the return probe
	}{{"http2", false, ""}, {"http1", true, ""}, {"http1 raw_tp", true, "raw_tp"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NETOBSERVER_BPF_HOOK", tc.hook)
			n := testenv.NewNet(t, subnet)
			cert, key := selfSigned(t, t.TempDir(), net.IP(n.ServerV4.AsSlice()))
			c := startCapture(t, nil)
			for _, p := range bin.Probes() {
				_, err := c.lib.AttachUprobeCookie(p.Program, pair, p.Offset, p.Cookie)
				require.NoError(t, err, "%s at %#x; library said:\n%s", p.Func, p.Offset, c.log.Text())
			}

			addr := net.JoinHostPort(n.ServerV4.String(), "8443")
			srv := testenv.Command(n.Server, pair, "server", "-listen", addr, "-cert", cert, "-key", key)
			stdout, err := srv.StdoutPipe()
			require.NoError(t, err)
			srv.Stderr = os.Stderr
			require.NoError(t, srv.Start())
			t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
			line, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "listening "+addr+"\n", line)

			// -hold: the client closes its connections only after the server's plaintext of every
			// response is in. A Go HTTP/2 server writes from its own goroutine, and a connection
			// the client closes right after its last response can be closed on the server before
			// that write's RET probe runs: its fd is gone, its plaintext lost (counted, see
			// bpf/README.md); this test is about what is seen, not that race.
			args := []string{"client", "-url", "https://" + addr, "-ca", cert, "-n", "120", "-c", "3", "-reuse", "8", "-hold"}
			if tc.http1 {
				args = append(args, "-http1")
			}
			cl := testenv.Command(n.Client, pair, args...)
			release, err := cl.StdinPipe()
			require.NoError(t, err)
			clOut, err := cl.StdoutPipe()
			require.NoError(t, err)
			cl.Stderr = os.Stderr
			require.NoError(t, cl.Start())
			t.Cleanup(func() { release.Close(); cl.Wait() })
			out, err := bufio.NewReader(clOut).ReadBytes('\n')
			require.NoError(t, err, "%s", out)
			var rep gotlspairReport
			require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
			require.Equal(t, 120, rep.Requests, "%s", out)
			require.Zero(t, rep.Errors)
			proto := "HTTP/2.0"
			if tc.http1 {
				proto = "HTTP/1.1"
			}
			require.Equal(t, map[string]int{proto: 120}, rep.Protocols)
			t.Logf("client: %s", out)
			c.waitFor(t, srv.Process.Pid, "the plaintext of every response", func(e []event) bool {
				calls, _, err := tlsCalls(e, false, tc.http1)
				return err == nil && reflect.DeepEqual(calls, rep.Calls)
			})
			require.NoError(t, release.Close())
			require.NoError(t, cl.Wait())

			for _, side := range []struct {
				name   string
				pid    int
				client bool
			}{{"client", cl.Process.Pid, true}, {"server", srv.Process.Pid, false}} {
				t.Run(side.name, func(t *testing.T) {
					evs := c.waitFor(t, side.pid, "every connection's close", func(e []event) bool {
						return closedConns(e) >= rep.Connections
					})
					calls, conns, err := tlsCalls(evs, side.client, tc.http1)
					require.NoError(t, err, describe(evs))
					require.Equal(t, rep.Connections, conns, describe(evs))
					require.Equal(t, rep.Calls, calls)
				})
			}
			// Only these probes are attached: no call of theirs lost its plaintext.
			require.Zero(t, c.lib.TLSUnattributed())
		})
	}
}
