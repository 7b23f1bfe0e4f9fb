// Package observer is the input of a pipeline: it drives the capture library (Capture) through
// the pipeline's life — configure, start, poll, flush records on their intervals, reconfigure,
// stop with a final flush — and runs each batch of events through its stages: admission,
// enrichment, L7, aggregation, and control, which tells the kernel side what the others decided
// after the batch. Records go to the Sink every interval; calls, L4 deltas and counters to a
// live.Sink as they happen. README.md draws the stages.
package observer
