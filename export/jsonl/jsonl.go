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

	"github.com/netobserver/netobserver/export/internal/jsonenc"
	"github.com/netobserver/netobserver/export/internal/lines"
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

// Flusher is flusher_jsonl. It is safe for concurrent use; lines of concurrent Flushes never
// interleave. Reopen fsyncs and closes the current file and opens Path again (creating it if
// logrotate moved it away): call it on SIGHUP; if opening fails the error is returned and the
// next Flush tries again. Close fsyncs and closes the file, so the lines are on disk when it
// returns nil.
type Flusher struct {
	*lines.Flusher
	file *lines.File
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
	file, err := lines.OpenFile(cfg.Path, int64(cfg.MaxSize), lines.ShiftRolls(TypeName, cfg.MaxRolls))
	if err != nil {
		return nil, fmt.Errorf("%s: Path: %w", TypeName, err)
	}
	return &Flusher{Flusher: lines.New(TypeName, ErrClosed, file), file: file}, nil
}

// Flush appends one line per record with a single write. On error the whole batch is counted as
// Failed and the error returned.
func (f *Flusher) Flush(records []record.Record) error {
	return f.Flusher.Flush(len(records), func(b *lines.Buffer) {
		for i := range records {
			b.B = jsonenc.AppendKeyValues(b.B, records[i], jsonenc.EscapeStrict)
			b.B = append(b.B, '\n')
			b.EndLine()
		}
	})
}

// Stats returns the counters.
func (f *Flusher) Stats() Stats {
	t := f.Totals()
	return Stats{Written: t.Written, Failed: t.Failed, Reopens: f.Reopens(), Rotations: f.file.Rotations()}
}
