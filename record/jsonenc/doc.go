// Package jsonenc writes records as JSON, byte for byte as each of iLogtail's outputs did: the
// flat object of flusher_stdout (json-iterator's escaping), protocol.Log as encoding/json wrote it
// (flusher_stdout with KeyValuePairs false, flusher_kafka), and strictly valid JSON lines
// (flusher_jsonl). It allocates only when the caller's buffer must grow.
package jsonenc
