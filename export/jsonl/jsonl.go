package jsonl

import (
	"errors"
	"fmt"

	"github.com/netobserver/netobserver/export/internal/lines"
	"github.com/netobserver/netobserver/record"
	"github.com/netobserver/netobserver/record/jsonenc"
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
