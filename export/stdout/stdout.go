package stdout

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/netobserver/netobserver/export/internal/lines"
	"github.com/netobserver/netobserver/record"
	"github.com/netobserver/netobserver/record/jsonenc"
)

// Flusher is a record.Flusher.
var _ record.Flusher = (*Flusher)(nil)

// Reopen (of lines.Flusher) closes FileName and opens it again, creating it when logrotate moved
// it away: call it on SIGHUP. Standard output and an injected writer have nothing to reopen. If
// opening fails the error is returned and the next Flush tries again. Close closes FileName
// (after syncing it); standard output and an injected writer are left open; later Flushes fail
// with ErrClosed.

// TypeName is the flusher's Type in an iLogtail pipeline config.
const TypeName = "flusher_stdout"

// Defaults iLogtail applied to a rolled FileName.
const (
	// DefaultMaxSize is the size in bytes at which FileName is rolled when MaxSize is not positive.
	DefaultMaxSize = 1024 * 1024
	// DefaultMaxRolls is how many rolled files are kept when MaxRolls is not positive.
	DefaultMaxRolls = 1
)

// Config is flusher_stdout's configuration, field for field iLogtail's. Start from DefaultConfig:
// the zero value has KeyValuePairs false.
type Config struct {
	// KeyValuePairs true writes each record as a flat JSON object of its fields plus "__time__";
	// false writes iLogtail's protocol.Log form {"Time":…,"Contents":[{"Key":…,"Value":…}]}.
	// Default true.
	KeyValuePairs bool
	// OnlyStdout writes the short "<date> <time> <record>" lines to standard output. It wins over
	// FileName, as in iLogtail.
	OnlyStdout bool
	// FileName, when set (and OnlyStdout is false), writes the short lines to this file instead of
	// standard output: appended to, created with mode 0640 (directories it creates 0750, whatever
	// the umask; an existing file keeps its mode), and rolled
	// as seelog did — before a line is written, if the file has reached MaxSize bytes it is renamed
	// to "<FileName>.<n>" (n one more than the highest existing), the lowest-numbered rolls beyond
	// MaxRolls are deleted, and a new file is started.
	FileName string
	// MaxSize is the roll size of FileName in bytes; not positive means DefaultMaxSize.
	MaxSize int
	// MaxRolls is how many rolled files of FileName are kept; not positive means DefaultMaxRolls.
	MaxRolls int
	// Tags writes a "[LogGroup] …" line before the records of each Flush.
	Tags bool
}

// DefaultConfig returns iLogtail's defaults: KeyValuePairs true, everything else off.
func DefaultConfig() Config {
	return Config{KeyValuePairs: true}
}

// Option changes how a Flusher is built; for tests and embedding.
type Option func(*Flusher)

// WithWriter makes the flusher write to w instead of standard output or FileName; the line format
// still follows the Config. Close does not close w.
func WithWriter(w io.Writer) Option {
	return func(f *Flusher) { f.w = w }
}

// WithClock makes the flusher take the time of its lines from now instead of time.Now.
func WithClock(now func() time.Time) Option {
	return func(f *Flusher) { f.now = now }
}

// Stats are a flusher's counters since it was created.
type Stats struct {
	// Written is the number of records written.
	Written uint64
	// Failed is the number of records lost to write errors (or flushed after Close).
	Failed uint64
}

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("stdout flusher: closed")

// Flusher is flusher_stdout. It is safe for concurrent use; each Flush is written with one write
// call (or a few, around a file roll), so lines of concurrent Flushes never interleave.
type Flusher struct {
	*lines.Flusher
	cfg   Config
	short bool // seelog "%Date %Time %Msg%n" (OnlyStdout or FileName) instead of the plugin logger's
	now   func() time.Time

	// Used under the lines.Flusher's lock.
	header       []byte // "[<config>,<logstore>]\t"
	logstoreName string
	tsSec        int64    // unix second that ts holds, -1 for none
	ts           [19]byte // "2006-01-02 15:04:05" of tsSec, local time

	// w and file are where the lines go: an injected or standard output, or FileName.
	w    io.Writer
	file *lines.File
}

// New returns flusher_stdout for the pipeline ctx. With FileName (and no WithWriter) the file is
// opened here, so a bad path fails now rather than at the first Flush.
func New(ctx record.Context, cfg Config, opts ...Option) (*Flusher, error) {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxRolls <= 0 {
		cfg.MaxRolls = DefaultMaxRolls
	}
	f := &Flusher{
		cfg:          cfg,
		short:        cfg.OnlyStdout || cfg.FileName != "",
		now:          time.Now,
		tsSec:        -1,
		header:       []byte("[" + ctx.ConfigName + "," + ctx.Logstore + "]\t"),
		logstoreName: ctx.Logstore,
	}
	for _, o := range opts {
		o(f)
	}
	var out lines.Output
	switch {
	case f.w != nil:
		out = lines.Stream{W: f.w}
	case !cfg.OnlyStdout && cfg.FileName != "":
		file, err := lines.OpenFile(cfg.FileName, int64(cfg.MaxSize), lines.SeelogRolls(cfg.MaxRolls))
		if err != nil {
			return nil, fmt.Errorf("%s: FileName: %w", TypeName, err)
		}
		f.file, out = file, file
	default:
		f.w = os.Stdout
		out = lines.Stream{W: f.w}
	}
	f.Flusher = lines.New(TypeName, ErrClosed, out)
	return f, nil
}

// Source locations iLogtail's logger printed: the logger calls in flusher_stdout.go of iLogtail
// 1.x (line 119 is confirmed by iLogtail's own sample output; 129 and 99 are the other two calls of
// that Flush method, one and two blocks away).
const (
	prefixKV   = " [INF] [flusher_stdout.go:119] [Flush] "
	prefixLog  = " [INF] [flusher_stdout.go:129] [Flush] "
	prefixTags = " [INF] [flusher_stdout.go:99] [Flush] "
)

// Flush writes one line per record (after a Tags line, if configured). On a write error the whole
// batch is counted as Failed and the error returned.
func (f *Flusher) Flush(records []record.Record) error {
	return f.Flusher.Flush(len(records), func(b *lines.Buffer) {
		f.stamp(f.now())
		if f.cfg.Tags {
			b.B = f.appendTagsLine(b.B, len(records))
			b.EndLine()
		}
		for i := range records {
			b.B = append(b.B, f.ts[:]...)
			if f.short {
				b.B = append(b.B, ' ')
			} else {
				if f.cfg.KeyValuePairs {
					b.B = append(b.B, prefixKV...)
				} else {
					b.B = append(b.B, prefixLog...)
				}
				b.B = append(b.B, f.header...)
			}
			if f.cfg.KeyValuePairs {
				b.B = jsonenc.AppendKeyValues(b.B, records[i], jsonenc.EscapeJsoniter)
			} else {
				b.B = jsonenc.AppendLog(b.B, records[i])
			}
			if !f.short {
				b.B = append(b.B, ':', '\t')
			}
			b.B = append(b.B, '\n')
			b.EndLine()
		}
	})
}

// appendTagsLine appends iLogtail's per-log-group line. Topic is empty and the tag list is empty:
// our records carry tags as fields. Category (the logstore) is the pipeline's Logstore.
func (f *Flusher) appendTagsLine(buf []byte, n int) []byte {
	buf = append(buf, f.ts[:]...)
	if f.short {
		// seelog Infof("[LogGroup] topic %s, logstore %s, logcount %d, tags %v", …)
		buf = append(buf, " [LogGroup] topic , logstore "...)
		buf = append(buf, f.logstoreName...)
		buf = append(buf, ", logcount "...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		return append(buf, ", tags []\n"...)
	}
	// logger.Info(ctx, "[LogGroup] topic", topic, "logstore", …): key:value pairs, each ending in TAB.
	buf = append(buf, prefixTags...)
	buf = append(buf, f.header...)
	buf = append(buf, "[LogGroup] topic:\tlogstore:"...)
	buf = append(buf, f.logstoreName...)
	buf = append(buf, "\tlogcount:"...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	return append(buf, "\ttags:[]\t\n"...)
}

// stamp caches "YYYY-MM-DD hh:mm:ss" of t in local time, recomputed only when the second changes.
func (f *Flusher) stamp(t time.Time) {
	sec := t.Unix()
	if sec == f.tsSec {
		return
	}
	f.tsSec = sec
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	put2 := func(at, v int) { f.ts[at], f.ts[at+1] = byte('0'+v/10%10), byte('0'+v%10) }
	put2(0, y/100)
	put2(2, y)
	f.ts[4] = '-'
	put2(5, int(mo))
	f.ts[7] = '-'
	put2(8, d)
	f.ts[10] = ' '
	put2(11, h)
	f.ts[13] = ':'
	put2(14, mi)
	f.ts[16] = ':'
	put2(17, s)
}

// Stats returns the counters.
func (f *Flusher) Stats() Stats {
	t := f.Totals()
	return Stats{Written: t.Written, Failed: t.Failed}
}
