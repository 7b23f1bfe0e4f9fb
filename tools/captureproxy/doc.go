// Command captureproxy is a TCP proxy that writes what passes through it as parser test captures
// (the format package parser/internal/parsertest reads), from real clients and servers.
//
//	captureproxy -listen 127.0.0.1:18080 -to 127.0.0.1:18081 -out testdata/captures/get
//
// Each accepted connection N (from 1, in accept order) is forwarded to -to and written as
//
//	<out>-N.c2s  the bytes the client sent (requests), raw
//	<out>-N.s2c  the bytes the server sent (responses), raw
//	<out>-N.seq  one line per read, in the order the proxy saw them: "c2s <n>" or "s2c <n>"
//
// so a test can replay each direction whole, or both interleaved as they happened. Half-closes
// are passed on. It runs until SIGINT or SIGTERM, then waits up to a second for connections in
// flight. Only loopback addresses are accepted, so captures stay on the machine.
package main
