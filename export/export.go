package export

import (
	"io"

	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/record"
)

// Config is one flusher's configuration, as its config.FlusherType decoded it.
type Config interface {
	config.FlusherConfig
	// Open builds the flusher for the pipeline ctx.
	Open(ctx record.Context, env Env) (Output, error)
}

// Env is what the binary lends the flushers.
type Env struct {
	// Stdout is the process's standard output.
	Stdout io.Writer
}

// Output is an opened flusher. What it takes it says by the interfaces it implements:
// record.Flusher (each interval's records), live.Sink (calls, L4 deltas and counters as they
// happen), or both; Counted (what became of the records), Reopener (files to reopen after a
// log rotation).
type Output interface {
	// Close writes what is queued, within the flusher's own time bound, and releases everything.
	Close() error
}

// Counted is an Output that accounts for every record given to it.
type Counted interface {
	Totals() Totals
}

// Totals are an output's record counts since it was opened: every record given to Flush is
// Written, Failed, Dropped or still Queued.
type Totals struct {
	Written, Failed, Dropped, Queued uint64
}

// Reopener is an Output that writes files: Reopen closes them and opens their paths again, after
// logrotate moved them away (on SIGHUP).
type Reopener interface {
	Reopen() error
}
