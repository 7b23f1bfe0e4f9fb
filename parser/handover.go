package parser

import "github.com/netobserver/netobserver/abi"

// A connection may leave its protocol for another, agreed by a response: HTTP/1.1's Upgrade to
// h2c, agreed by a 101 Switching Protocols. The bytes after that response, and after the request
// it answered, are the new protocol's, and the request is answered there (h2c's stream 1): it is
// handed over, and the response that agreed is not a call of its own.

// Upgraded is a request made in one protocol and answered in the one the connection was handed
// to, as the old protocol parsed it.
type Upgraded struct {
	// TS is its first byte's.
	TS        uint64
	Size      int
	Truncated bool
	// Method, Host and Path are what an HTTP request asked for (Path without its query).
	Method, Host, Path string
}

// Switcher is implemented by the Parsers of protocols a connection may leave (HTTP/1.1). Switch
// says whether resp, a Complete response, agreed to hand the connection to another protocol,
// which, and what req, the request it answers, asked for.
type Switcher[M any] interface {
	Switch(req, resp *M) (to abi.Protocol, u Upgraded, ok bool)
}

// Adopter is implemented by the Parsers of protocols a connection may be handed to (HTTP/2):
// Adopt fills msg, zeroed, with the request u, made before the handover, as the first request
// of the new protocol.
type Adopter[M any] interface {
	Adopt(u *Upgraded, msg *M)
}

// HandoverFunc is told, during the Parse of a response that agreed to it, that the connection
// leaves the Conn's protocol for to (Switcher), with the request u answered there. It reports
// whether the connection was handed over: then another Conn, which adopted u (Conn.Adopt),
// parses it from the next bytes on, and the response and its request are counted HandedOver,
// not paired. When it refuses (no parser for to), the response pairs with its request as any
// other (the 101 is the call) and what follows is the old protocol's business.
type HandoverFunc func(to abi.Protocol, u *Upgraded) bool
