// Package protocols is the registry of the L7 protocols the observer records: one line per
// protocol package. It lives apart from package parser because every protocol package imports
// parser for the contract.
package protocols

import (
	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/amqp"
	"github.com/netobserver/netobserver/parser/dns"
	"github.com/netobserver/netobserver/parser/http"
	"github.com/netobserver/netobserver/parser/http2"
	"github.com/netobserver/netobserver/parser/kafka"
	"github.com/netobserver/netobserver/parser/memcached"
	"github.com/netobserver/netobserver/parser/mqtt"
	"github.com/netobserver/netobserver/parser/mysql"
	"github.com/netobserver/netobserver/parser/nats"
	"github.com/netobserver/netobserver/parser/pgsql"
	"github.com/netobserver/netobserver/parser/redis"
)

// All is every protocol the observer records. Adding a protocol is one line here.
var All = []parser.Protocol{
	http.Protocol,
	http2.Protocol,
	redis.Protocol,
	memcached.Protocol,
	nats.Protocol,
	mysql.Protocol,
	pgsql.Protocol,
	dns.Protocol,
	kafka.Protocol,
	mqtt.Protocol,
	amqp.Protocol,
}

// ByKernel returns All keyed by the kernel side's name of each protocol, as data events carry it.
func ByKernel() map[abi.Protocol]parser.Protocol {
	m := make(map[abi.Protocol]parser.Protocol, len(All))
	for _, p := range All {
		m[p.Kernel()] = p
	}
	return m
}
