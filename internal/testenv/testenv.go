package testenv

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RequireRoot fails the test, loudly, when it cannot create namespaces or load BPF: these tests
// never pass by doing nothing.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("KERNEL TEST NOT RUN: needs root (network namespaces, BPF); run `make test` as root")
	}
}

// Net is two network namespaces, Server and Client, joined by a veth pair with IPv4 and IPv6
// addresses on a private test subnet.
type Net struct {
	Server, Client     string // namespace names
	ServerV4, ClientV4 netip.Addr
	ServerV6, ClientV6 netip.Addr
}

// NewNet creates the namespaces. subnet (1..254) keeps concurrent test packages apart: it picks
// 10.<subnet>.0.0/24 and fd00:<subnet>::/64. The namespaces and the veth go away at cleanup.
func NewNet(t testing.TB, subnet int) *Net {
	t.Helper()
	RequireRoot(t)
	tag := fmt.Sprintf("no%d-%d", subnet, os.Getpid()%100000)
	n := &Net{
		Server:   tag + "-srv",
		Client:   tag + "-cli",
		ServerV4: netip.MustParseAddr(fmt.Sprintf("10.%d.0.1", subnet)),
		ClientV4: netip.MustParseAddr(fmt.Sprintf("10.%d.0.2", subnet)),
		ServerV6: netip.MustParseAddr(fmt.Sprintf("fd00:%x::1", subnet)),
		ClientV6: netip.MustParseAddr(fmt.Sprintf("fd00:%x::2", subnet)),
	}
	vs, vc := tag+"s", tag+"c" // interface names: at most 15 bytes
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", n.Server).Run()
		exec.Command("ip", "netns", "del", n.Client).Run()
	})
	for _, args := range [][]string{
		{"netns", "add", n.Server},
		{"netns", "add", n.Client},
		{"link", "add", vs, "type", "veth", "peer", "name", vc},
		{"link", "set", vs, "netns", n.Server},
		{"link", "set", vc, "netns", n.Client},
		{"-n", n.Server, "addr", "add", n.ServerV4.String() + "/24", "dev", vs},
		{"-n", n.Client, "addr", "add", n.ClientV4.String() + "/24", "dev", vc},
		{"-n", n.Server, "addr", "add", n.ServerV6.String() + "/64", "dev", vs, "nodad"},
		{"-n", n.Client, "addr", "add", n.ClientV6.String() + "/64", "dev", vc, "nodad"},
		{"-n", n.Server, "link", "set", vs, "up"},
		{"-n", n.Client, "link", "set", vc, "up"},
		{"-n", n.Server, "link", "set", "lo", "up"},
		{"-n", n.Client, "link", "set", "lo", "up"},
	} {
		Run(t, "ip", args...)
	}
	return n
}

// Command returns a command that runs in namespace ns.
func Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Run runs a command and fails the test with its output if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// RunIn runs a command in namespace ns and returns its standard output, failing the test if it
// fails.
func RunIn(t testing.TB, ns, name string, args ...string) string {
	t.Helper()
	cmd := Command(ns, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("in %s: %s %s: %v\n%s%s", ns, name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Curl runs curl in namespace ns, one GET per url, ten a second so that curl still runs when the
// observer reads its first events (its command comes from /proc), and fails the test unless every
// request succeeds. The finished command's pid is the one curl's records carry.
func Curl(t testing.TB, ns string, urls ...string) *exec.Cmd {
	t.Helper()
	cmd := Command(ns, "curl", append([]string{"-s", "-o", "/dev/null", "--rate", "10/s"}, urls...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("in %s: curl %s: %v\n%s", ns, strings.Join(urls, " "), err, out)
	}
	return cmd
}

// Start starts a long-running command in namespace ns and stops it at cleanup.
func Start(t testing.TB, ns, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := Command(ns, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("in %s: start %s: %v", ns, name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() && out.Len() > 0 {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd
}

// WaitPort waits until something accepts TCP connections on addr inside ns.
func WaitPort(t testing.TB, ns string, addr netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := Command(ns, "ss", "-Hltn", "sport = :"+fmt.Sprint(addr.Port())).Output()
		if strings.Contains(string(out), "LISTEN") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s in %s after 10s", addr, ns)
}

// Nginx starts nginx in namespace ns listening on port 80 of both addresses, answering every
// request with 200 and body "hello\n", except /404 (404, "missing\n"). It returns the master's
// pid (the worker is its child).
func Nginx(t testing.TB, ns string, v4, v6 netip.Addr) *exec.Cmd {
	t.Helper()
	return NginxHTTP(t, ns, v4, fmt.Sprintf(`access_log off;
server {
	listen %s:80;
	listen [%s]:80;
	keepalive_requests 100000;
	location / { default_type text/plain; return 200 "hello\n"; }
	location = /404 { default_type text/plain; return 404 "missing\n"; }
}
`, v4, v6))
}

// NginxHTTP starts nginx in namespace ns, one process, its pid file, error log and temporary
// files in a directory of the test's, with http the directives of its http block (servers
// included), and returns once something listens on port 80 of v4.
func NginxHTTP(t testing.TB, ns string, v4 netip.Addr, http string) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
%[2]s}
`, dir, http)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := Start(t, ns, "nginx", "-c", path, "-p", dir)
	WaitPort(t, ns, netip.AddrPortFrom(v4, 80))
	return cmd
}

// Dnsmasq starts dnsmasq in namespace ns on addr:53 (UDP and TCP), answering for names maps
// (name → IPv4 or IPv6 address) and NXDOMAIN for everything else. extra are more dnsmasq
// options (e.g. "--log-queries").
func Dnsmasq(t testing.TB, ns string, addr netip.Addr, names map[string]netip.Addr, extra ...string) *exec.Cmd {
	t.Helper()
	args := []string{"--no-daemon", "--conf-file=/dev/null", "--user=root", "--pid-file=",
		"--listen-address=" + addr.String(), "--bind-interfaces", "--no-resolv", "--no-hosts",
		"--no-negcache", "--local=/test/",
		"--local-ttl=300"} // answers name remote hosts for their TTL: a TTL of 0 names them for no time
	for name, ip := range names {
		args = append(args, "--host-record="+name+","+ip.String())
	}
	cmd := Start(t, ns, "dnsmasq", append(args, extra...)...)
	WaitPort(t, ns, netip.AddrPortFrom(addr, 53))
	return cmd
}
