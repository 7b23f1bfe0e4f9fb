package mysql

import (
	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/sqlcall"
)

// Message is one MySQL request or response.
type Message = sqlcall.Message

// Protocol is the MySQL protocol: name "mysql", requests and responses matched in order.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel:          abi.ProtoMySQL,
	Records:         sqlcall.Records("mysql"),
	NewParser:       func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:         parser.InOrder[Message]{},
	FieldsProtocols: sqlcall.FieldsProtocols,
	FieldsL4L7:      sqlcall.FieldsL4L7,
	Stream:          parser.StreamHints{GlueLengthHeader: glueLengthHeader},
})

// glueLengthHeader is MySQL's stream hint: clients read a packet's 4-byte header (3 bytes of
// length, a sequence id) and then its body, so a syscall of exactly the length the last 4-byte
// read announced is that packet's body, unless its own first 3 bytes are that length (it is a
// whole packet, header included). The kernel side compares the same sizes (org_msg_size).
func glueLengthHeader(header uint32, size uint64, first []byte) bool {
	if uint64(header&0xffffff) != size {
		return false
	}
	return len(first) < 3 || first[0] != byte(header) || first[1] != byte(header>>8) || first[2] != byte(header>>16)
}
