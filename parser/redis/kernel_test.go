package redis

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kernelWords is what the kernel aggregation's redis_request keys a command by: the name
// upper-cased (a-z only), and a container command's second argument, upper-cased, when it has
// one of at most 32 bytes (bpf/netobserver.bpf.c; it falls back on a zero byte or a name past 64).
func kernelWords(args [][]byte) (name, sub []byte) {
	up := func(b []byte) []byte { return bytes.Map(func(r rune) rune { return upperASCII(r) }, b) }
	name = up(args[0])
	if len(args) > 1 && len(name) <= 8 && hasSubcommand(string(name)) && len(args[1]) <= maxSub {
		sub = up(args[1])
	}
	return name, sub
}

func upperASCII(r rune) rune {
	if r >= 'a' && r <= 'z' {
		return r - ('a' - 'A')
	}
	return r
}

// KernelMethod gives the words the kernel keys a command by the Method the parser gives the
// command: known names and subcommands in any case, unknown ones, container commands without
// a subcommand or with one too long, names with bytes commands do not have.
func TestKernelMethodIsTheParsersMethod(t *testing.T) {
	cases := [][]string{
		{"GET", "k"}, {"get", "k"}, {"lrange", "l", "0", "99"}, {"CONFIG", "GET", "maxmemory"},
		{"config", "get", "x"}, {"Client", "SetName", "n"}, {"CONFIG", "nosuch"}, {"CONFIG"},
		{"CONFIG", ""}, {"CONFIG", "GETX"}, {"CLIENT", "0123456789012345678901234567890123"},
		{"OBJECT", "encoding", "k"}, {"XINFO", "stream", "s"}, {"FUNCTION", "list"}, {"FT.SEARCH", "idx"},
		{"NOSUCH"}, {""}, {"GE T"}, {"get\xff"}, {"SET", "CONFIG", "GET"}, {"ACL", "whoami"},
		{"MEMORY", "usage", "k"}, {"slowlog", "get"}, {"CLIENT", "se\xfftname"}, {"SCRIPT", "load", "return 1"},
	}
	in := parser.NewInterner(100)
	for _, c := range cases {
		var req bytes.Buffer
		args := make([][]byte, len(c))
		fmt.Fprintf(&req, "*%d\r\n", len(c))
		for i, a := range c {
			args[i] = []byte(a)
			fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
		}
		var msg Message
		r := NewConn(in).Parse(req.Bytes(), parser.Request, &msg)
		require.Equal(t, parser.Complete, r.Status, "%q", c)
		name, sub := kernelWords(args)
		assert.Equal(t, msg.Method, KernelMethod(in, name, sub), "%q", c)
	}
}
