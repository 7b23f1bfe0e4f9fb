package pgsql

import (
	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/sqlcall"
)

// Message is one PostgreSQL request or response.
type Message = sqlcall.Message

// Protocol is the PostgreSQL protocol: name "pgsql", requests and responses matched in order.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel:          abi.ProtoPGSQL,
	Records:         sqlcall.Records("pgsql"),
	NewParser:       func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:         parser.InOrder[Message]{},
	FieldsProtocols: sqlcall.FieldsProtocols,
	FieldsL4L7:      sqlcall.FieldsL4L7,
})
