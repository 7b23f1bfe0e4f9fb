package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/internal/fileperm"
)

// version is set by the Makefile (-X main.version=…).
var version = "dev"

// exitUsage is the exit code for bad command lines and bad configuration.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" && args[0] != "--version" {
		return pipeline(args, stdout, stderr)
	}
	switch args[0] {
	case "record":
		return recordEvents(args[1:], stdout, stderr)
	case "version", "--version":
		return printVersion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "netobserver: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  netobserver --config FILE [--libebpf PATH] [--btf PATH] [--source kernel|replay:FILE] [--start-timeout D] [--stop-timeout D] [--pprof ADDR] [--nice N] [-v]
  netobserver --check-config FILE
  netobserver record [-o FILE] [--libebpf PATH] [--btf PATH] [--source kernel|replay:FILE] [--duration D]
  netobserver version [--libebpf PATH]
`)
}

// source is where events come from: the kernel through libebpf.so, or a recording.
type source struct {
	replayTrace string
}

func parseSource(s string) (source, error) {
	switch {
	case s == "kernel":
		return source{}, nil
	case strings.HasPrefix(s, "replay:") && len(s) > len("replay:"):
		return source{replayTrace: strings.TrimPrefix(s, "replay:")}, nil
	}
	return source{}, fmt.Errorf("--source %q: want kernel or replay:FILE", s)
}

// libraryPath picks the library for a source: an explicit --libebpf wins; a replay runs on
// libebpf-replay.so beside the binary; the kernel source lets the cgo layer search as iLogtail does.
func (s source) libraryPath(explicit string) string {
	if explicit != "" || s.replayTrace == "" {
		return explicit
	}
	if exe, err := os.Executable(); err == nil {
		return filepath.Join(filepath.Dir(exe), "libebpf-replay.so")
	}
	return "libebpf-replay.so"
}

func recordEvents(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "-", "write the trace to `FILE` (- for standard output)")
	libPath := fs.String("libebpf", "", "load libebpf.so from `PATH` (default: beside this binary, then the loader's search)")
	btf := fs.String("btf", "", "BTF or vmlinux `FILE` for kernels without /sys/kernel/btf/vmlinux")
	src := fs.String("source", "kernel", "where events come from: kernel, or replay:`FILE`")
	duration := fs.Duration("duration", 0, "stop after `D` (default: until SIGINT/SIGTERM, or the end of a replay)")
	verbose := fs.Bool("v", false, "log the library's debug messages")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "netobserver record: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	s, err := parseSource(*src)
	if err != nil {
		fmt.Fprintf(stderr, "netobserver record: %v\n", err)
		return exitUsage
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if s.replayTrace != "" {
		if _, err := os.Stat(s.replayTrace); err != nil {
			fmt.Fprintf(stderr, "netobserver record: --source replay: %v\n", err)
			return exitUsage
		}
		os.Setenv("NETOBSERVER_REPLAY_TRACE", s.replayTrace)
		logger.Warn("netobserver: REPLAY — events come from a recording, not from the kernel", "trace", s.replayTrace)
	}

	w := stdout
	if *out != "-" {
		// Raw payloads: passwords and cookies included. For the owner only.
		f, err := fileperm.Create(*out, fileperm.Trace)
		if err != nil {
			fmt.Fprintf(stderr, "netobserver record: -o: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		w = f
	}

	lib, err := libebpf.Open(libebpf.Options{Path: s.libraryPath(*libPath), BTFPath: *btf, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "netobserver record: %v\n", err)
		return 1
	}
	if s.replayTrace == "" && isReplayLibrary(lib) {
		logger.Warn("netobserver: the loaded library is the replay library: events come from its trace file, not from the kernel", "file", lib.Path())
	}
	if err := configureLikeILogtail(lib); err != nil {
		lib.Close()
		fmt.Fprintf(stderr, "netobserver record: %v\n", err)
		return 1
	}
	if err := lib.Start(); err != nil {
		lib.Close()
		fmt.Fprintf(stderr, "netobserver record: %v\n", err)
		return 1
	}

	trace := abi.NewTraceWriter(w)
	if lib.ProcessEvents() && s.replayTrace == "" {
		recordRunning(trace)
	}
	err = consume(lib, trace, s.replayTrace != "", *duration)
	if cerr := lib.Close(); err == nil {
		err = cerr
	}
	for b := range lib.Events() { // what was polled before the stop
		b.Visit(trace)
		lib.Release(b)
	}
	if ferr := trace.Flush(); err == nil {
		err = ferr
	}
	c := lib.Counters()
	logger.Info("netobserver: stopped", "ctrl", c.Ctrl, "data", c.Data, "stats", c.Stats,
		"lost_ctrl", c.Lost[abi.CtrlEvents], "lost_data", c.Lost[abi.DataEvents], "lost_stats", c.Lost[abi.StatsEvents],
		"payload_bytes", c.PayloadBytes)
	if err != nil {
		fmt.Fprintf(stderr, "netobserver record: %v\n", err)
		return 1
	}
	return 0
}

// recordRunning writes the processes running now as process events at time 0, so that a replay
// names the processes that started before the recording too, without this host's /proc. The
// events of the capture, already started, follow.
func recordRunning(trace *abi.TraceWriter) {
	fs := container.Procfs{}
	for _, pid := range fs.Pids() {
		p, err := fs.Raw(pid)
		if err != nil {
			continue // gone meanwhile: its exit is in the capture
		}
		ev := abi.ProcEvent{Type: abi.ProcExec, TGID: p.PID, PPID: p.PPID, StartNS: p.StartTime * 1e7}
		copy(ev.Comm[:len(ev.Comm)-1], p.Comm)
		ev.ArgsTotal = uint32(len(p.Cmdline))
		ev.ArgsSize = uint32(copy(ev.Args[:], p.Cmdline))
		dir, leaf := path.Split(strings.TrimSuffix(p.CgroupPath, "/"))
		copy(ev.CgroupLeaf[:len(ev.CgroupLeaf)-1], leaf)
		copy(ev.CgroupParent[:len(ev.CgroupParent)-1], path.Base(strings.TrimSuffix(dir, "/")))
		if strings.Count(p.CgroupPath, "/") < 2 {
			ev.CgroupParent = [len(ev.CgroupParent)]byte{}
		}
		trace.Proc(&ev)
	}
}

// configureLikeILogtail sends the settings iLogtail sent after init, in its order.
func configureLikeILogtail(lib *libebpf.Library) error {
	return errors.Join(
		lib.SetProtocolFilter(abi.AllProtocols),
		lib.SetProcessFilter(libebpf.AllProcesses),
		lib.SetSelfFilter(int32(os.Getpid())),
		lib.SetSampling(abi.SampleAll),
		lib.SetBufferPages(abi.DataEvents, 512),
	)
}

// consume writes batches until a signal, the duration, or the end of a replay.
func consume(lib *libebpf.Library, trace *abi.TraceWriter, replay bool, duration time.Duration) error {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	var deadline <-chan time.Time
	if duration > 0 {
		deadline = time.After(duration)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-lib.Events():
			if !ok {
				return nil
			}
			b.Visit(trace)
			lib.Release(b)
		case <-signals:
			return nil
		case <-deadline:
			return nil
		case <-tick.C:
			if replay && lib.Finished() {
				return nil
			}
		}
	}
}

func printVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	libPath := fs.String("libebpf", "", "inspect libebpf.so at `PATH` (default: beside this binary, then the loader's search)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	fmt.Fprintf(stdout, "netobserver %s\n", version)
	file, libVersion, err := libebpf.Inspect(*libPath)
	if err != nil {
		fmt.Fprintf(stdout, "libebpf: not loaded: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "libebpf %s: %s\n", file, libVersion)
	return 0
}
