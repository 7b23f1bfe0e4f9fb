package calls

import (
	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/dns"
	"github.com/netobserver/netobserver/parser/http"
	"github.com/netobserver/netobserver/parser/mysql"
	"github.com/netobserver/netobserver/parser/pgsql"
	"github.com/netobserver/netobserver/parser/redis"
)

// Parsers returns the parser of every protocol the observer records, keyed as the kernel side
// names protocols.
func Parsers() map[abi.Protocol]parser.Protocol {
	return map[abi.Protocol]parser.Protocol{
		abi.ProtoHTTP:  http.Protocol,
		abi.ProtoRedis: redis.Protocol,
		abi.ProtoMySQL: mysql.Protocol,
		abi.ProtoPGSQL: pgsql.Protocol,
		abi.ProtoDNS:   dns.Protocol{},
	}
}
