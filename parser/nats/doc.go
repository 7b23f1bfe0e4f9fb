// Package nats parses the NATS client protocol (CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG from
// clients; INFO, MSG, HMSG, PING, PONG, +OK, -ERR from servers). A record says the operation and
// the subject, masked to a bounded set (see Mask), and never a payload or header.
//
// One-way messages: a PUB, HPUB, SUB or UNSUB is one-way unless the client's CONNECT asked for
// verbose mode, where the server answers each with +OK (then they are calls, latency and all).
// A MSG or HMSG delivered to a subscriber is one-way in the server-to-client direction. A -ERR
// (or +OK) that answers nothing the parser saw waiting is a one-way message of its own: a
// permissions violation for a non-verbose PUB, a stale connection. A client PING and the
// server's PONG are a call; the server's keepalive PING and the client's PONG are not recorded
// (Ignored), nor are INFO and a non-verbose CONNECT's absence of answer — the CONNECT itself is a
// one-way message then.
package nats
