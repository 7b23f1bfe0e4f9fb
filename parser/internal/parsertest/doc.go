// Package parsertest is what the protocol parsers' tests share: reading the captures that
// tools/captureproxy writes, replaying them (or any other reads) through a parser.Conn the
// way the observer does, and checking the parts of the parser.Conn contract that hold for every
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
// A Driver feeds reads to a Conn with a pending buffer per direction: Parse until NeedMore, skip
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
// tables of FindBoundary expectations and a Protocol's basics. FuzzStreams and CheckWhole are the
// bodies of the fuzz targets, SeedCaptures and SeedCaptureCases seed them from captures.
//
// This package is for tests only; internal/ keeps it inside parser/.
package parsertest
