//go:build image

// Package image tests the container image `make image` builds (bin/netobserver-image.tar, or
// $NETOBSERVER_IMAGE): loaded into a real dockerd the test starts, run with the host's PID
// namespace — with every capability and no confinement, and with only the capabilities, mounts
// and the runtime's default seccomp profile the Kubernetes DaemonSet gives it — it records a curl
// the host makes. Root; run it under the BPF lock (make image-test).
//
// Not `docker run --privileged`: runc then asks for every capability it knows, and this machine's
// own bounding set lacks CAP_SYS_RESOURCE, so runc fails with "unable to apply caps". The first
// case is the nearest: all capabilities but that one, seccomp and AppArmor off, /proc and /sys
// unmasked.
package image

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// daemonSetCaps are the capabilities packaging/kubernetes/daemonset.yaml adds (all others
// dropped), but CAP_SYS_RESOURCE, which this machine cannot grant (see above) and kernels from
// 5.11 on do not need; packaging/kubernetes's test checks the manifest holds these.
var daemonSetCaps = []string{"SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "DAC_READ_SEARCH"}

func imagePath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("NETOBSERVER_IMAGE")
	if p == "" {
		p = "../../bin/netobserver-image.tar"
	}
	p, err := filepath.Abs(p)
	require.NoError(t, err)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `make image` (%v)", p, err)
	}
	return p
}

func TestImageRecordsHostCurl(t *testing.T) {
	testenv.RequireRoot(t)
	tarball := imagePath(t)
	d := testenv.StartDockerd(t)
	out := d.Docker(t, "load", "-i", tarball)
	ref := strings.TrimSpace(strings.TrimPrefix(out[strings.LastIndex(out, "Loaded image:"):], "Loaded image:"))
	require.NotEmpty(t, ref, "docker load: %s", out)

	n := testenv.NewNet(t, 243)
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	pipeline := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(pipeline, []byte(testenv.Pipeline{}.String()), 0o644))

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"all capabilities, unconfined", []string{"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
			"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined"}},
		// As packaging/kubernetes/daemonset.yaml runs it: those capabilities only, the runtime's
		// default seccomp profile, a read-only root filesystem with a /tmp, tracefs and debugfs
		// mounted read-only.
		{"daemonset capabilities", append([]string{"--cap-drop", "ALL", "--user", "0:0", "--read-only", "--tmpfs", "/tmp",
			"-v", "/sys/kernel/tracing:/sys/kernel/tracing:ro", "-v", "/sys/kernel/debug:/sys/kernel/debug:ro"},
			capArgs(daemonSetCaps)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("netobserver-%d", time.Now().UnixNano())
			args := append([]string{"run", "-d", "--name", name, "--pid", "host", "--network", "none",
				"-v", pipeline + ":/etc/netobserver/pipeline.yaml:ro"}, tc.args...)
			d.Docker(t, append(args, ref)...)
			t.Cleanup(func() { d.Docker(t, "rm", "-f", name) })
			waitLogs(t, d, name, "netobserver: observing")

			path := "/image-" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			curl := testenv.Curl(t, n.Client, fmt.Sprintf("http://%s%s", n.ServerV4, path), fmt.Sprintf("http://%s%s", n.ServerV4, path))
			time.Sleep(300 * time.Millisecond)
			d.Docker(t, "stop", "-t", "60", name) // SIGTERM flushes every pending record
			stdout, stderr := logs(t, d, name)
			assert.Equal(t, "0", d.Docker(t, "inspect", "-f", "{{.State.ExitCode}}", name), "log:\n%s", stderr)
			var got []map[string]string
			for _, r := range testenv.Records(t, stdout) {
				if r["type"] == "protocols" && r["role"] == "client" && r["url"] == path {
					got = append(got, r)
				}
			}
			require.Len(t, got, 1, "log:\n%s", stderr)
			assert.Equal(t, "2", got[0]["total_count"], "curl's two requests")
			assert.Equal(t, fmt.Sprint(curl.Process.Pid), got[0]["_process_pid_"], "the host's pid: the image sees the host's processes")
			assert.Equal(t, "host", got[0]["_running_mode_"])
		})
	}
}

func capArgs(caps []string) []string {
	var args []string
	for _, c := range caps {
		args = append(args, "--cap-add", c)
	}
	return args
}

func logs(t *testing.T, d *testenv.Daemon, name string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command("/usr/bin/docker", "logs", name)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	require.NoError(t, cmd.Run())
	return o.String(), e.String()
}

func waitLogs(t *testing.T, d *testenv.Daemon, name, s string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, stderr := logs(t, d, name)
		if strings.Contains(stderr, s) {
			return
		}
		if state := d.Docker(t, "inspect", "-f", "{{.State.Status}}", name); state != "running" || time.Now().After(deadline) {
			t.Fatalf("container %s (%s) did not log %q:\n%s", name, state, s, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
