package abi

import (
	"fmt"
	"testing"
)

// The names are what iLogtail's config and records, and the trace format, spell: enums_string.go
// is generated from the constants' line comments (go generate ./abi), and this pins the result.
func TestEnumNames(t *testing.T) {
	for _, tc := range []struct {
		v    fmt.Stringer
		want string
	}{
		{ProtoUnknown, "unknown"}, {ProtoHTTP, "http"}, {ProtoMySQL, "mysql"}, {ProtoDNS, "dns"},
		{ProtoRedis, "redis"}, {ProtoKafka, "kafka"}, {ProtoPGSQL, "pgsql"}, {ProtoMongo, "mongo"},
		{ProtoDubbo, "dubbo"}, {ProtoHSF, "hsf"}, {ProtoHSF + 1, "Protocol(10)"},
		{RoleUnknown, "unknown"}, {RoleClient, "client"}, {RoleServer, "server"}, {Role(6), "Role(6)"},
		{TypeUnknown, "unknown"}, {TypeRequest, "request"}, {TypeResponse, "response"}, {MessageType(3), "MessageType(3)"},
		{DirUnknown, "unknown"}, {DirIngress, "ingress"}, {DirEgress, "egress"}, {Direction(3), "Direction(3)"},
		{EventConnect, "connect"}, {EventClose, "close"}, {EventType(2), "EventType(2)"},
		{SyscallUnknown, "unknown"}, {SyscallWrite, "write"}, {SyscallRecvFrom, "recvfrom"},
		{SyscallSockAlloc, "sockalloc"}, {SyscallSecuritySendMsg, "security_sendmsg"},
		{SyscallRecvMmsg, "recvmmsg"}, {SyscallReadV, "readv"}, {SyscallReadV + 1, "Syscall(19)"},
		{CtrlEvents, "ctrl"}, {DataEvents, "data"}, {StatsEvents, "stats"}, {ProcessEvents, "proc"},
		{CallbackType(4), "CallbackType(4)"},
		{ProcExec, "exec"}, {ProcFork, "fork"}, {ProcExit, "exit"}, {ProcType(0), "ProcType(0)"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%T %d: %q, want %q", tc.v, tc.v, got, tc.want)
		}
	}
}

func TestParseProtocol(t *testing.T) {
	for p := ProtoHTTP; p <= ProtoHSF; p++ {
		if got, ok := ParseProtocol(p.String()); !ok || got != p {
			t.Errorf("ParseProtocol(%q) = %v, %v", p.String(), got, ok)
		}
	}
	if got, ok := ParseProtocol("MySQL"); !ok || got != ProtoMySQL {
		t.Errorf("ParseProtocol is case-insensitive: %v, %v", got, ok)
	}
	for _, name := range []string{"unknown", "", "Protocol(10)", "http2"} {
		if got, ok := ParseProtocol(name); ok {
			t.Errorf("ParseProtocol(%q) = %v", name, got)
		}
	}
}
