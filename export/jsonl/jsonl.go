// Package jsonl is flusher_jsonl, netobserver's JSON-lines file flusher (iLogtail had none): one
// compact JSON object per record and line, appended to a file, for jq, log shippers and tests.
//
// # Line format
//
// Each line is the record's fields as key/value string pairs in the record's order, then
// "__time__", then a newline:
//
//	{"type":"protocols","_process_pid_":"605",…,"total_resp_bytes":"272","__time__":"1661417038"}
//
// "__time__" is a string of the Unix seconds, as in flusher_stdout's output, so every value of a
// line has one type (all record values are strings) and a line of this file and a line of
// flusher_stdout carry the same object. Strings are escaped so that every line is valid JSON: `"`,
// `\` and control characters escaped (\n, \r, \t short, the rest \u00XX), invalid UTF-8 bytes as
// \ufffd, U+2028/U+2029 escaped; `<`, `>`, `&` and other non-ASCII text are written as they are.
// A repeated key is written twice.
//
// # Files and rotation
//
// The file is opened for appending and created with mode 0640 (directories it creates 0750),
// whatever the umask; an existing file keeps its mode. Each Flush
// is one write(2) of whole lines (a few when it rotates). Close fsyncs and closes it.
//
// With MaxSize set the flusher rotates by itself: before a line is written, if the file has
// reached MaxSize bytes, Path.<MaxRolls> is removed, Path.<n> becomes Path.<n+1>, Path becomes
// Path.1 and a new Path is started (the numbering of logrotate's default). Lines are never split
// across files, so a file can exceed MaxSize by up to one line.
//
// For an external logrotate instead, the process that owns
// signal handling calls Reopen on SIGHUP (after logrotate renamed the file, "postrotate ... kill
// -HUP"): Reopen fsyncs and closes the old file and opens Path again, so later lines go to the new
// file and none are lost or split. This package installs no signal handler itself, because SIGHUP
// also reloads the pipeline config and only one owner should react to it. logrotate's
// copytruncate mode also works without Reopen, since the file is opened with O_APPEND.
package jsonl

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/netobserver/netobserver/export/stdout"
	"github.com/netobserver/netobserver/internal/fileperm"
	"github.com/netobserver/netobserver/record"
)

// Flusher is a record.Flusher.
var _ record.Flusher = (*Flusher)(nil)

// TypeName is the flusher's Type in a pipeline config.
const TypeName = "flusher_jsonl"

// Config is flusher_jsonl's configuration.
type Config struct {
	// Path is the file the lines are appended to. Required.
	Path string
	// MaxSize, when positive, rotates Path once it has reached this many bytes; 0 never rotates.
	MaxSize int
	// MaxRolls is how many rotated files (Path.1 the newest … Path.<MaxRolls>) are kept when
	// MaxSize is set; not positive means DefaultMaxRolls.
	MaxRolls int
}

// DefaultMaxRolls is the number of rotated files kept when Config.MaxRolls is not positive.
const DefaultMaxRolls = 1

// Stats are a flusher's counters since it was created.
type Stats struct {
	// Written is the number of records written.
	Written uint64
	// Failed is the number of records lost to write errors (or flushed after Close).
	Failed uint64
	// Reopens is the number of successful Reopen calls.
	Reopens uint64
	// Rotations is the number of times MaxSize rotated the file.
	Rotations uint64
}

// ErrClosed is returned by Flush and Reopen after Close.
var ErrClosed = errors.New("jsonl flusher: closed")

// maxRetainedBuf is the largest line buffer kept between Flushes.
const maxRetainedBuf = 4 << 20

// Flusher is flusher_jsonl. It is safe for concurrent use; lines of concurrent Flushes never
// interleave.
type Flusher struct {
	mu       sync.Mutex
	path     string
	maxSize  int64 // 0: never rotate
	maxRolls int
	f        *os.File // nil after a failed Reopen or rotation, until a later Flush or Reopen opens Path again
	size     int64    // bytes in f, for rotation
	buf      []byte
	ends     []int // end offset of each line in buf, for rotating between lines
	closed   bool

	written, failed, reopens, rotations atomic.Uint64
}

// New opens cfg.Path for appending. The record.Context is accepted for symmetry with the other
// flushers; the lines do not show it.
func New(_ record.Context, cfg Config) (*Flusher, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%s: Path is required", TypeName)
	}
	if cfg.MaxSize < 0 {
		return nil, fmt.Errorf("%s: MaxSize must not be negative, got %d", TypeName, cfg.MaxSize)
	}
	if cfg.MaxRolls <= 0 {
		cfg.MaxRolls = DefaultMaxRolls
	}
	f := &Flusher{path: cfg.Path, maxSize: int64(cfg.MaxSize), maxRolls: cfg.MaxRolls, buf: make([]byte, 0, 4096)}
	if err := f.open(); err != nil {
		return nil, fmt.Errorf("%s: Path: %w", TypeName, err)
	}
	return f, nil
}

func (f *Flusher) open() error {
	file, err := fileperm.OpenAppend(f.path, fileperm.Records)
	if err != nil {
		return err
	}
	st, err := file.Stat()
	if err != nil {
		_ = file.Close()
		return err
	}
	f.f, f.size = file, st.Size()
	return nil
}

// Flush appends one line per record with a single write. On error the whole batch is counted as
// Failed and the error returned.
func (f *Flusher) Flush(records []record.Record) error {
	if len(records) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		f.failed.Add(uint64(len(records)))
		return ErrClosed
	}
	if f.f == nil {
		if err := f.open(); err != nil {
			f.failed.Add(uint64(len(records)))
			return fmt.Errorf("%s: %d records lost: %w", TypeName, len(records), err)
		}
	}
	buf, ends := f.buf[:0], f.ends[:0]
	for i := range records {
		buf = stdout.AppendKeyValues(buf, records[i], stdout.EscapeStrict)
		buf = append(buf, '\n')
		ends = append(ends, len(buf))
	}
	err := f.write(buf, ends)
	if cap(buf) <= maxRetainedBuf {
		f.buf, f.ends = buf, ends
	} else {
		f.buf, f.ends = nil, nil
	}
	if err != nil {
		f.failed.Add(uint64(len(records)))
		return fmt.Errorf("%s: %d records lost: %w", TypeName, len(records), err)
	}
	f.written.Add(uint64(len(records)))
	return nil
}

// write writes buf, whose lines end at ends, rotating between lines when MaxSize is reached.
func (f *Flusher) write(buf []byte, ends []int) error {
	if f.maxSize <= 0 {
		_, err := f.f.Write(buf)
		f.size += int64(len(buf))
		return err
	}
	start, lineStart := 0, 0
	for _, end := range ends {
		if f.size >= f.maxSize {
			if lineStart > start {
				if _, err := f.f.Write(buf[start:lineStart]); err != nil {
					return err
				}
			}
			if err := f.rotate(); err != nil {
				return err
			}
			start = lineStart
		}
		f.size += int64(end - lineStart)
		lineStart = end
	}
	_, err := f.f.Write(buf[start:lineStart])
	return err
}

// rotate shifts Path.<n> to Path.<n+1> (dropping Path.<maxRolls>), moves Path to Path.1 and
// opens a new Path.
func (f *Flusher) rotate() error {
	err := errors.Join(f.f.Sync(), f.f.Close())
	f.f = nil
	roll := func(n int) string { return f.path + "." + strconv.Itoa(n) }
	if rerr := os.Remove(roll(f.maxRolls)); rerr != nil && !os.IsNotExist(rerr) {
		err = errors.Join(err, rerr)
	}
	for n := f.maxRolls - 1; n >= 1; n-- {
		if rerr := os.Rename(roll(n), roll(n+1)); rerr != nil && !os.IsNotExist(rerr) {
			err = errors.Join(err, rerr)
		}
	}
	if rerr := os.Rename(f.path, roll(1)); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if oerr := f.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	f.rotations.Add(1)
	if err != nil {
		// There is a file to write to, so no line is lost: say what went wrong and carry on
		// (a failed rename leaves Path at its size and the next line tries again).
		slog.Warn("flusher_jsonl: rotation incomplete", "path", f.path, "err", err)
	}
	return nil
}

// Reopen fsyncs and closes the current file and opens Path again (creating it if logrotate moved
// it away). Call it on SIGHUP. If opening fails the error is returned and the next Flush tries
// again.
func (f *Flusher) Reopen() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	var err error
	if f.f != nil {
		err = errors.Join(f.f.Sync(), f.f.Close())
		f.f = nil
	}
	if oerr := f.open(); oerr != nil {
		return fmt.Errorf("%s: reopen %s: %w", TypeName, f.path, errors.Join(err, oerr))
	}
	f.reopens.Add(1)
	if err != nil {
		return fmt.Errorf("%s: closing the old file: %w", TypeName, err)
	}
	return nil
}

// Stats returns the counters.
func (f *Flusher) Stats() Stats {
	return Stats{Written: f.written.Load(), Failed: f.failed.Load(), Reopens: f.reopens.Load(), Rotations: f.rotations.Load()}
}

// Close fsyncs and closes the file, so the lines are on disk when it returns nil.
func (f *Flusher) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.f == nil {
		return nil
	}
	err := errors.Join(f.f.Sync(), f.f.Close())
	f.f = nil
	if err != nil {
		return fmt.Errorf("%s: %w", TypeName, err)
	}
	return nil
}
