// Package stdout is flusher_stdout: records on standard output or a size-rolled file, in the
// exact bytes iLogtail 1.x's flusher_stdout wrote, so tools that parse those lines keep working.
// README.md describes both line formats and where each byte comes from.
package stdout
