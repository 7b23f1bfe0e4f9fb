package calls

import (
	"github.com/netobserver/netobserver/parser/dns"
	"github.com/netobserver/netobserver/parser/http"
	"github.com/netobserver/netobserver/parser/mysql"
	"github.com/netobserver/netobserver/parser/redis"
)

// describe reads what the tests compare of a call in its protocol's own messages: the request's
// method and resource, and the response's status (HTTP, DNS).
func describe(c *Call) (method, resource string, status int) {
	req, resp := c.Messages()
	switch q := req.(type) {
	case *http.Message:
		return q.Method, q.Resource, resp.(*http.Message).Status
	case *dns.Message:
		return q.Method, q.Resource, resp.(*dns.Message).Status
	case *mysql.Message: // and pgsql's: the two share sqlcall.Message
		return q.Method, q.Resource, 0
	case *redis.Message:
		return q.Method, "", 0
	}
	return "", "", 0
}
