// Package record defines what netobserver writes: iLogtail log entries, each a time and an ordered
// list of key/value strings, and the Flusher interface every output implements.
package record
