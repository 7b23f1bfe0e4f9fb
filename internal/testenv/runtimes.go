package testenv

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The container runtime tests run the real daemons (Debian's docker.io and containerd), each on
// its own socket, data and state directories under a fresh temporary directory, so that a daemon
// the host may run is never touched: dockerd without iptables, ip6tables or a bridge (containers
// run with --network none, and tests wire a veth of their own into a container's namespace),
// dockerd's containerd started by dockerd on paths below its exec root, containerd without its
// CRI plugin. There is no registry: images come from a busybox-static root filesystem
// (BusyboxRootfs).

// Daemon is a container runtime daemon the test started.
type Daemon struct {
	// Socket is the path of the daemon's API socket.
	Socket string
	// Dir holds its data, state and log; removed at cleanup.
	Dir  string
	name string
	args []string
	cmd  *exec.Cmd
	log  *os.File
	exit chan struct{}
}

// runtimeDir is a fresh directory with a short path: unix socket paths (containerd's shims put
// theirs below its state directory) must stay under 108 bytes.
func runtimeDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// StartDockerd starts a dockerd of the test's own (NewDockerd, Start).
func StartDockerd(t testing.TB) *Daemon {
	t.Helper()
	d := NewDockerd(t)
	d.Start(t)
	return d
}

// NewDockerd makes, without starting it, a dockerd of the test's own, and stops it, its
// containers and its mounts at cleanup.
func NewDockerd(t testing.TB) *Daemon {
	t.Helper()
	RequireRoot(t)
	dir := runtimeDir(t, "nodk")
	d := &Daemon{Socket: filepath.Join(dir, "docker.sock"), Dir: dir, name: "dockerd"}
	d.args = []string{
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false", "--ip-forward=false",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", "unix://" + d.Socket,
		"--containerd-namespace", "netobserver-test", "--containerd-plugins-namespace", "netobserver-test-plugins",
		"--shutdown-timeout", "2", "--userland-proxy=false",
	}
	t.Cleanup(func() { d.cleanup(t) })
	return d
}

// Host is the DOCKER_HOST of the daemon.
func (d *Daemon) Host() string { return "unix://" + d.Socket }

// Start starts the daemon (again, after Stop: same data) and returns once its API answers.
func (d *Daemon) Start(t testing.TB) {
	t.Helper()
	var err error
	d.log, err = os.OpenFile(filepath.Join(d.Dir, d.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(d.name, d.args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", d.name, err)
	}
	d.exit = make(chan struct{})
	go func(cmd *exec.Cmd, exit chan struct{}) { cmd.Wait(); close(exit) }(d.cmd, d.exit)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", d.Socket); err == nil {
			c.Close()
			break
		}
		select {
		case <-d.exit:
			t.Fatalf("%s exited at start:\n%s", d.name, d.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after 30s:\n%s", d.name, d.Socket, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.name == "dockerd" {
		// The socket exists before the API answers every call.
		for {
			if _, err := d.docker("version"); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("dockerd does not answer after 30s:\n%s", d.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Stop stops the daemon (SIGTERM; SIGKILL after 20 s) and waits for it to exit.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exit:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.exit
	}
	d.cmd = nil
	d.log.Close()
}

// Log is what the daemon wrote so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, d.name+".log"))
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

func (d *Daemon) cleanup(t testing.TB) {
	if d.cmd != nil {
		switch d.name {
		case "dockerd":
			if ids, err := d.docker("ps", "-aq"); err == nil && strings.TrimSpace(ids) != "" {
				d.docker(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
			}
		case "containerd":
			d.removeContainerdTasks()
		}
		d.Stop(t)
	}
	if t.Failed() {
		t.Logf("%s log (end):\n%s", d.name, d.Log())
	}
	unmountBelow(d.Dir)
	os.RemoveAll(d.Dir)
}

// unmountBelow unmounts whatever a daemon left mounted below dir (overlay roots, shm), deepest
// first.
func unmountBelow(dir string) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			mounts = append(mounts, f[1])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
}

// dockerCLI is Debian's docker client, the daemon's own version (another docker on PATH may be
// newer than the daemon's API).
func dockerCLI() string {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	return "docker"
}

func (d *Daemon) docker(args ...string) (string, error) {
	cmd := exec.Command(dockerCLI(), args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Docker runs the docker client against the daemon and returns its trimmed output; a failure
// fails the test.
func (d *Daemon) Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.docker(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// BusyboxImage imports the busybox root filesystem into the daemon as image name (once per name
// and daemon) and returns name.
func (d *Daemon) BusyboxImage(t testing.TB, name string) string {
	t.Helper()
	if _, err := d.docker("image", "inspect", name); err == nil {
		return name
	}
	var buf bytes.Buffer
	writeRootfsTar(t, &buf)
	cmd := exec.Command(dockerCLI(), "import", "-c", `CMD ["/bin/sh"]`, "-c", "ENV PATH=/bin", "-", name)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host())
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	return name
}

// ContainerPID is the host pid of a running container's first process.
func (d *Daemon) ContainerPID(t testing.TB, name string) int {
	t.Helper()
	var pid int
	fmt.Sscan(d.Docker(t, "inspect", "-f", "{{.State.Pid}}", name), &pid)
	if pid <= 0 {
		t.Fatalf("container %s has no process", name)
	}
	return pid
}

var (
	sharedDockerd     *Daemon
	sharedDockerdOnce sync.Once
	sharedDockerdT    *sharedT
)

// Dockerd is a dockerd shared by the tests of a package, started by the first test that asks;
// the package's TestMain must call StopShared after m.Run. Tests that stop or restart a daemon
// start their own (StartDockerd).
func Dockerd(t testing.TB) *Daemon {
	t.Helper()
	RequireRoot(t)
	sharedDockerdOnce.Do(func() {
		sharedDockerdT = &sharedT{TB: t}
		func() {
			defer func() { sharedDockerdT.failed = t.Failed() }()
			sharedDockerd = StartDockerd(sharedDockerdT)
		}()
	})
	if sharedDockerd == nil || sharedDockerd.cmd == nil {
		t.Fatal("the shared dockerd did not start (see the first test that asked for it)")
	}
	return sharedDockerd
}

// StopShared stops the daemons Dockerd started; call it from TestMain after m.Run.
func StopShared() {
	if sharedDockerdT != nil {
		sharedDockerdT.runCleanups()
	}
}

// sharedT is a testing.TB whose cleanups outlive the test that made the shared daemon: they run
// at StopShared. Failures still go to that test.
type sharedT struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func (s *sharedT) Cleanup(f func()) {
	s.mu.Lock()
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

func (s *sharedT) Failed() bool { return s.failed }

// Logf after the first test ended would panic: the shared cleanup logs to standard error.
func (s *sharedT) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func (s *sharedT) runCleanups() {
	s.mu.Lock()
	fs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// StartContainerd starts a containerd of the test's own — root, state and sockets in a fresh
// directory, no CRI plugin (the tests create containers as it would, with ctr) — and stops it,
// with the tasks it runs, at cleanup.
func StartContainerd(t testing.TB) *Daemon {
	t.Helper()
	RequireRoot(t)
	dir := runtimeDir(t, "noctd")
	d := &Daemon{Socket: filepath.Join(dir, "containerd.sock"), Dir: dir, name: "containerd"}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), d.Socket, d.Socket+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d.args = []string{"--config", filepath.Join(dir, "config.toml")}
	t.Cleanup(func() { d.cleanup(t) })
	d.Start(t)
	return d
}

func (d *Daemon) ctr(args ...string) (string, error) {
	cmd := exec.Command("ctr", append([]string{"--address", d.Socket}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Ctr runs containerd's ctr client against the daemon and returns its trimmed output; a failure
// fails the test.
func (d *Daemon) Ctr(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.ctr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// RunFlags are the flags every `ctr run` against the daemon needs so that runc's state and the
// I/O fifos stay in the daemon's directory rather than under /run/containerd, which a containerd
// of the host would share. (The shims' sockets still go to /run/containerd/s, named by a hash of
// the daemon's address: containerd 1.6 does not let them move.)
func (d *Daemon) RunFlags() []string {
	return []string{"--runc-root", filepath.Join(d.Dir, "runc"), "--fifo-dir", filepath.Join(d.Dir, "fifo")}
}

// removeContainerdTasks kills and deletes the tasks and containers of every namespace, so that
// no shim outlives the daemon.
func (d *Daemon) removeContainerdTasks() {
	nss, err := d.ctr("namespaces", "list", "-q")
	if err != nil {
		return
	}
	for _, ns := range strings.Fields(nss) {
		tasks, _ := d.ctr("-n", ns, "tasks", "list", "-q")
		for _, id := range strings.Fields(tasks) {
			d.ctr("-n", ns, "tasks", "kill", "-s", "SIGKILL", id)
		}
		for _, id := range strings.Fields(tasks) {
			for range 50 {
				if _, err := d.ctr("-n", ns, "tasks", "delete", id); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		ctrs, _ := d.ctr("-n", ns, "containers", "list", "-q")
		for _, id := range strings.Fields(ctrs) {
			d.ctr("-n", ns, "containers", "delete", id)
		}
	}
}

// BusyboxOCIImage imports into namespace ns an OCI image of the busybox root filesystem, named
// name (as a registry reference: docker.io/…:tag), and returns name.
func (d *Daemon) BusyboxOCIImage(t testing.TB, ns, name string) string {
	t.Helper()
	archive := filepath.Join(d.Dir, "busybox-oci.tar")
	writeOCIArchive(t, archive, name)
	d.Ctr(t, "-n", ns, "images", "import", "--no-unpack=false", archive)
	return name
}

// busyboxApplets are the commands the root filesystem links to busybox.
var busyboxApplets = []string{"sh", "sleep", "wget", "nc", "cat", "true", "echo", "ip", "env", "ls", "ps"}

// writeRootfsTar writes a root filesystem as a tar: /bin/busybox (Debian's busybox-static, which
// needs no library) and its applets, and the directories a runtime mounts on.
func writeRootfsTar(t testing.TB, w interface{ Write([]byte) (int, error) }) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is missing (make deps): %v", err)
	}
	tw := tar.NewWriter(w)
	add := func(h *tar.Header, body []byte) {
		h.ModTime = time.Unix(0, 0)
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if body != nil {
			if _, err := tw.Write(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, dir := range []string{"bin", "dev", "etc", "proc", "sys", "tmp"} {
		add(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))}, bb)
	for _, a := range busyboxApplets {
		add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	passwd := []byte("root:x:0:0:root:/:/bin/sh\n")
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(passwd))}, passwd)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeOCIArchive writes an OCI image layout, as a tar, of one image: the busybox root
// filesystem as its one layer, PATH=/bin, named name.
func writeOCIArchive(t testing.TB, path, name string) {
	t.Helper()
	var layer bytes.Buffer
	writeRootfsTar(t, &layer)
	digest := func(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	layerDigest := digest(layer.Bytes())
	config := mustJSON(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": []string{"/bin/sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	manifest := mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layer.Len()}},
	})
	index := mustJSON(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest), "size": len(manifest),
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name[strings.LastIndexByte(name, ':')+1:]},
		}},
	})
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	files := []struct {
		name string
		body []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + strings.TrimPrefix(layerDigest, "sha256:"), layer.Bytes()},
		{"blobs/sha256/" + strings.TrimPrefix(digest(config), "sha256:"), config},
		{"blobs/sha256/" + strings.TrimPrefix(digest(manifest), "sha256:"), manifest},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, fl := range files {
		if err := tw.WriteHeader(&tar.Header{Name: fl.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(fl.body)), ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(fl.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// BusyboxRootfs writes the busybox root filesystem into dir (a bundle's rootfs for ctr run
// --rootfs, or an image's base).
func BusyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	var buf bytes.Buffer
	writeRootfsTar(t, &buf)
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, fs.FileMode(h.Mode))
		case tar.TypeSymlink:
			os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, fs.FileMode(h.Mode)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// JoinNetns moves one end of a new veth pair into the network namespace of process pid (a
// container's) with address cAddr/24 and the other into the named namespace ns with sAddr/24,
// both up, so that the container reaches servers in ns without any bridge. The pair goes away with
// the namespaces.
func JoinNetns(t testing.TB, pid int, ns, tag, cAddr, sAddr string) {
	t.Helper()
	hostEnd, ctrEnd := tag+"h", tag+"c"
	Run(t, "ip", "link", "add", hostEnd, "type", "veth", "peer", "name", ctrEnd)
	Run(t, "ip", "link", "set", hostEnd, "netns", ns)
	Run(t, "ip", "link", "set", ctrEnd, "netns", fmt.Sprint(pid))
	Run(t, "ip", "-n", ns, "addr", "add", sAddr+"/24", "dev", hostEnd)
	Run(t, "ip", "-n", ns, "link", "set", hostEnd, "up")
	Run(t, "nsenter", "-t", fmt.Sprint(pid), "-n", "ip", "addr", "add", cAddr+"/24", "dev", ctrEnd)
	Run(t, "nsenter", "-t", fmt.Sprint(pid), "-n", "ip", "link", "set", ctrEnd, "up")
	Run(t, "nsenter", "-t", fmt.Sprint(pid), "-n", "ip", "link", "set", "lo", "up")
}
