// Package http parses HTTP/1.0 and HTTP/1.1 for netobserver.
//
// It owns HTTP/1 framing — where each request and response ends in a byte stream, whether the
// body is delimited by Content-Length, by chunked transfer coding, by the connection closing, or
// absent (HEAD replies, 1xx, 204, 304) — and the fields records need: method, Host, the path
// without its query string (query strings carry user data and never leave the host), version
// and status. Bodies are skipped, never read.
//
// A Conn remembers what one connection's earlier messages imply for later ones: the methods of
// unanswered requests (a reply to HEAD has no body), a body running until close, a protocol
// switch, and how far an incomplete chunked body was scanned, so that a message trickling in is
// scanned once however many calls it takes.
//
// A 101 that names h2c, answering a request that offered it (Upgrade: h2c), hands the connection
// to HTTP/2 with that request (Conn.Switch, parser.Switcher): it is recorded there, as stream 1.
package http
