// Package parsertest is what the protocol parsers' tests share: reading the captures that
// tools/captureproxy writes, replaying them (or any other reads) through a parser.Parser the
// way the observer does, and checking the parts of the parser.Parser contract that hold for every
// protocol. Protocol-specific expectations stay in each parser's own tests.
//
// # Captures
//
// A capture is one recorded TCP connection, stored as three files with a common path prefix:
//
//	<prefix>.c2s  the bytes the client sent (the request stream), raw
//	<prefix>.s2c  the bytes the server sent (the response stream), raw
//	<prefix>.seq  one line per read, in the order the reads completed: "c2s <n>" or "s2c <n>"
//
// Load is the one reader of that format; tools/captureproxy and the in-test Recorder
// (capture-regenerating tests, build tag "capture") write it.
//
// # Replaying
//
// A Driver feeds reads to a Parser with a pending buffer per direction: Parse until NeedMore, skip
// by stream position the bytes a message announced beyond the buffer, and after Invalid go on at
// FindBoundary. It records what every Parse call found. Recut and SplitAt deliver the same bytes
// in other reads, Interleave and FuzzReads make reads from fuzz inputs.
//
// # Checking
//
// CheckResult and CheckBoundary check one Parse or FindBoundary call against the contract; a
// Driver with a Check applies them to every call. CheckCaptures replays captures whole, re-cut
// and from a later read on; CheckRecut compares a capture's replay with a re-cut one;
// CheckPrefixes cuts a sample message at every length; CheckBoundaries and CheckProtocol run
// tables of FindBoundary expectations and a Protocol's basics; FieldsProtocols and FieldsL4L7
// return an Exchange's record fields. FuzzStreams, FuzzDriven and
// CheckWhole are the bodies of the fuzz targets, SeedCaptures and SeedCaptureCases seed them from
// captures.
//
// # Benchmarking
//
// BenchCycle times a request and its response on one connection and reports allocations per
// message; ReportCPU adds CPU time per operation to the wall-clock figures.
//
// This package is for tests only; internal/ keeps it inside parser/.
package parsertest
