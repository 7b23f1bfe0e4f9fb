// Package fakedocker is a stand-in Docker daemon for tests: a real HTTP server on a unix socket
// answering the Engine API endpoints netobserver's client uses (/_ping, /version,
// /containers/json, /containers/{id}/json) with bodies shaped like Docker Engine 27's (API 1.47)
// responses, trimmed. No Docker engine runs on the development and CI machines; the client code
// path (container's engine: version negotiation, HTTP over the socket, JSON decoding) stays the
// real one.
package fakedocker
