package http

import (
	"reflect"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Idle is true exactly when the next bytes parse as they would on a new Conn.
func TestIdle(t *testing.T) {
	var m Message
	parse := func(c *Conn, typ parser.MessageType, s string) parser.Status {
		return c.Parse([]byte(s), typ, &m).Status
	}
	c := newConn()
	assert.True(t, c.Idle(), "new")
	require.Equal(t, parser.Complete, parse(c, req, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"))
	assert.False(t, c.Idle(), "a HEAD waits: its response has no body")
	require.Equal(t, parser.Complete, parse(c, resp, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"))
	assert.True(t, c.Idle(), "answered")

	long := "GET / HTTP/1.1\r\nHost: a\r\nX-Padding: " + string(make([]byte, 40)) + "\r\n"
	require.Equal(t, parser.NeedMore, parse(c, req, long))
	assert.False(t, c.Idle(), "a header section read in part")
	require.Equal(t, parser.Complete, parse(c, req, long+"\r\n"))
	require.Equal(t, parser.Complete, parse(c, resp, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	assert.True(t, c.Idle())

	require.Equal(t, parser.Complete, parse(c, req, "GET / HTTP/1.0\r\n\r\n"))
	require.Equal(t, parser.Complete, parse(c, resp, "HTTP/1.0 200 OK\r\n\r\nbody until close"))
	assert.False(t, c.Idle(), "a body that ends with the connection")

	c = newConn()
	require.Equal(t, parser.Complete, parse(c, req, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"))
	require.Equal(t, parser.Complete, parse(c, resp, "HTTP/1.1 101 Switching Protocols\r\n\r\n"))
	assert.False(t, c.Idle(), "no longer HTTP/1")
}

// Idle was written for these fields; a new field of Conn must be weighed there, then added here.
func TestIdleKnowsEveryField(t *testing.T) {
	var names []string
	for typ, i := reflect.TypeFor[Conn](), 0; i < typ.NumField(); i++ {
		names = append(names, typ.Field(i).Name)
	}
	assert.Equal(t, []string{"in", "host", "resource", "pending", "pendingHead", "pendingLen", "pendingLost", "untilClose", "tunnel", "dir", "chunkedScans"}, names)
}
