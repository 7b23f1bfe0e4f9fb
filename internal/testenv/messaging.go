package testenv

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Mosquitto starts the mosquitto broker in namespace ns on addr:1883, anonymous, without
// persistence, logging every packet to the returned log file, and stops it at cleanup.
func Mosquitto(t testing.TB, ns string, addr netip.Addr) (cmd *exec.Cmd, log string) {
	t.Helper()
	// mosquitto started as root runs as the user mosquitto: it must read and write here.
	dir := ownedTempDir(t, "mosquitto")
	log = filepath.Join(dir, "mosquitto.log")
	conf := filepath.Join(dir, "mosquitto.conf")
	// max_queued_messages: deliveries to a slow subscriber are queued, never dropped, so that
	// what the clients count is what crossed the wire.
	err := os.WriteFile(conf, []byte(fmt.Sprintf("listener 1883 %s\nallow_anonymous true\npersistence false\n"+
		"max_queued_messages 0\nmax_inflight_messages 0\nlog_dest file %s\nlog_type all\n", addr, log)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd = Start(t, ns, "mosquitto", "-c", conf)
	WaitPort(t, ns, netip.AddrPortFrom(addr, 1883))
	return cmd, log
}

// RabbitMQ is a RabbitMQ node of its own running in a namespace.
type RabbitMQ struct {
	Cmd  *exec.Cmd
	Env  []string // the node's environment, for rabbitmqctl
	Addr netip.AddrPort
}

// StartRabbitMQ starts a RabbitMQ node in namespace ns on addr:5672 with its own node name,
// mnesia and log directories under a temporary one, and its own epmd (started first, so that
// the node does not start a daemon nobody stops), waiting at most 90 s for it to listen: it boots
// in 20-30 s here. Both are stopped at cleanup by process group.
func StartRabbitMQ(t testing.TB, ns string, addr netip.Addr) *RabbitMQ {
	t.Helper()
	dir := t.TempDir()
	r := &RabbitMQ{Addr: netip.AddrPortFrom(addr, 5672), Env: append(os.Environ(),
		"RABBITMQ_NODENAME=netobserver@localhost", "RABBITMQ_NODE_IP_ADDRESS="+addr.String(),
		"RABBITMQ_NODE_PORT=5672", "RABBITMQ_DIST_PORT=25672", "ERL_EPMD_PORT=4369",
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"), "RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "plugins"), "RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq"),
		"HOME="+dir)}
	// guest may log in from the client's namespace (by default only from loopback).
	if err := os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte("loopback_users = none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	group(t, r.Env, ns, "epmd", "-port", "4369")
	WaitPort(t, ns, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 4369))
	r.Cmd = group(t, r.Env, ns, "/usr/lib/rabbitmq/bin/rabbitmq-server")
	waitPortFor(t, ns, r.Addr, 90*time.Second)
	return r
}

// group starts name in namespace ns in a process group of its own, with env, and kills the group
// at cleanup.
func group(t testing.TB, env []string, ns, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := Command(ns, name, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("in %s: start %s: %v", ns, name, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() && out.Len() > 0 {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd
}

// waitPortFor is WaitPort with a deadline of its own, for servers that start slowly.
func waitPortFor(t testing.TB, ns string, addr netip.AddrPort, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		out, _ := Command(ns, "ss", "-Hltn", "sport = :"+fmt.Sprint(addr.Port())).Output()
		if bytes.Contains(out, []byte("LISTEN")) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s in %s after %v", addr, ns, wait)
}
