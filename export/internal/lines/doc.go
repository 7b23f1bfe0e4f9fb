// Package lines is what the line flushers (flusher_stdout, flusher_jsonl) share: a Flush that
// encodes its records as lines into memory reused across Flushes and writes them whole, under one
// lock, counting every record written or failed; and a File that takes whole lines, rotated by
// size between lines.
package lines
