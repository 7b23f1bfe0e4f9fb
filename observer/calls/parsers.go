package calls

import (
	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/protocols"
)

// Parsers returns every protocol the observer records (parser/protocols), keyed as the kernel
// side names protocols.
func Parsers() map[abi.Protocol]parser.Protocol { return protocols.ByKernel() }
