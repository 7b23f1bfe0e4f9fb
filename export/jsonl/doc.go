// Package jsonl is flusher_jsonl, netobserver's JSON-lines file flusher: one compact, valid JSON
// object per record and line, appended to a file, rotated by size or reopened on SIGHUP.
// README.md describes the line format and the rotation.
package jsonl
