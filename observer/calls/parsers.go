package calls

import (
	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/dns"
	"github.com/netobserver/netobserver/parser/http"
	"github.com/netobserver/netobserver/parser/mysql"
	"github.com/netobserver/netobserver/parser/pgsql"
	"github.com/netobserver/netobserver/parser/redis"
)

// Parsers returns the parser of every protocol the observer records, keyed as the kernel side
// names protocols.
func Parsers() map[libebpf.Protocol]parser.Protocol {
	return map[libebpf.Protocol]parser.Protocol{
		libebpf.ProtoHTTP:  http.Protocol,
		libebpf.ProtoRedis: redis.Protocol,
		libebpf.ProtoMySQL: mysql.Protocol,
		libebpf.ProtoPGSQL: pgsql.Protocol,
		libebpf.ProtoDNS:   dns.Protocol{},
	}
}
