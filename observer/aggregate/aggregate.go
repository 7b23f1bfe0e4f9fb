package aggregate

import (
	"net/netip"
	"slices"
	"strconv"
	"unsafe"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/record/jsonenc"

	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/record"
)

// Process is who made a connection, as records show it.
type Process struct {
	// Group is the aggregation identity: a host process's pid, or a container's id, so that a
	// container's processes aggregate together.
	Group string
	// Meta is the process fields of records, in record order: _process_pid_, _process_cmd_,
	// _running_mode_ for a host process; the container or Kubernetes fields otherwise.
	Meta []record.Field
}

// ProcessOf is the records' view of a process identity.
func ProcessOf(id *container.Identity) *Process {
	return &Process{Group: id.Group, Meta: processFields(id)}
}

// processFields are the process fields of schema A, in its order.
func processFields(id *container.Identity) []record.Field {
	switch id.Mode {
	case container.ModeKubernetes:
		k := id.Container.K8s
		return []record.Field{
			{Key: "_pod_name_", Value: k.PodName},
			{Key: "_namespace_", Value: k.Namespace},
			{Key: "_container_name_", Value: k.ContainerName},
			{Key: "_workload_name_", Value: k.Workload},
			{Key: "_running_mode_", Value: id.Mode.String()},
		}
	case container.ModeContainer:
		return []record.Field{
			{Key: "_container_name_", Value: id.Container.Name},
			{Key: "_running_mode_", Value: id.Mode.String()},
		}
	}
	return []record.Field{
		{Key: "_process_pid_", Value: strconv.FormatUint(uint64(id.PID), 10)},
		{Key: "_process_cmd_", Value: id.Cmd},
		{Key: "_running_mode_", Value: id.Mode.String()},
	}
}

// Cap bounds the aggregation keys of one protocol in one process group (ProtocolAggCfg).
type Cap struct {
	ClientSize, ServerSize int
}

// DefaultCap is iLogtail's default ProtocolAggCfg.
var DefaultCap = Cap{ClientSize: 500, ServerSize: 5000}

// Schema chooses the records an Aggregator writes.
type Schema int

const (
	// SchemaProtocols writes protocols and statistics records.
	SchemaProtocols Schema = iota
	// SchemaL4L7 writes l7_req, l7_db and l4 records.
	SchemaL4L7
)

// Aggregator folds calls and stats into records. It is used by one goroutine.
type Aggregator interface {
	// AddCall counts one call of process p.
	AddCall(p *Process, c *calls.Call)
	// AddCalls counts calls of process p with c's key that were counted elsewhere (the kernel's
	// aggregation), by their sums and their latencies' histogram buckets.
	AddCalls(p *Process, c *calls.Call, s *CallSums)
	// AddStats counts the L4 deltas a stats event carries (x - last_output_x).
	AddStats(p *Process, ev *abi.StatsEvent)
	// NameHost remembers, until the unix second expires (the answer's TTL), that a DNS answer
	// seen by process group named ip as host.
	NameHost(group string, ip netip.Addr, host string, expires uint32)
	// FlushL7 returns the L7 records of the interval ending at unixSeconds and starts a new one.
	FlushL7(unixSeconds uint32) []record.Record
	// FlushL4 returns the L4 records of the interval ending at unixSeconds and starts a new one.
	FlushL4(unixSeconds uint32) []record.Record
	// Dropped returns the calls of protocol p the caps turned away since the last FlushL7.
	Dropped(p abi.Protocol) uint64
}

// New returns an empty Aggregator of cfg.Schema.
func New(cfg Config) Aggregator {
	b := newBase(cfg)
	if cfg.Schema == SchemaL4L7 {
		return newL4L7Schema(b, cfg)
	}
	return newProtocolsSchema(b)
}

// Config shapes the records.
type Config struct {
	Schema Schema
	// Tags are added to every record as __tag__:<key>, in key order (Common.Tags, and
	// Common.Cluster as "cluster").
	Tags map[string]string
	// Caps per protocol; protocols without an entry get DefaultCap.
	Caps map[abi.Protocol]Cap
	// Schema B only: the intervals its records state, and the host name that makes conn_id
	// unique across hosts.
	L4Interval, L7Interval uint32
	Host                   string
}

// base is what both schemas share: tags, caps and their counters, DNS names.
type base struct {
	tags      []record.Field
	caps      map[abi.Protocol]Cap
	keysUsed  map[capKey]int
	dropped   map[abi.Protocol]uint64
	hostNames map[hostKey]hostName
}

// protocolsSchema holds the aggregation state of the current intervals for schema A.
type protocolsSchema struct {
	*base
	l7 table[protocolsKey, l7Value]
	// recent holds the last key counted per role (server, other) and its value in l7: calls in a
	// row mostly share their key (a client repeating its request, a server answering it), and
	// comparing keys costs much less than hashing one. Emptied with l7.
	recent [2]struct {
		key   protocolsKey
		value *l7Value
	}
	l4 table[statisticsKey, l4Value]
	// key is where AddCall makes each call's key: the call's fields are set in place (on the
	// stack, the key would escape to the heap through the call that sets them).
	key protocolsKey
}

type hostName struct {
	name    string
	expires uint32 // unix seconds: the answer's TTL after it was seen
}

// maxHostNames bounds the DNS names remembered for remote_host.
const maxHostNames = 1 << 16

type protocolsKey struct {
	group  string
	proto  abi.Protocol
	role   abi.Role
	ip     netip.Addr
	port   uint16
	fields parser.Fields
	// oneWay keeps one-way calls, which have no latency, apart from answered ones of the same
	// fields: their records say one_way and do not dilute the others' latency.
	oneWay bool
}

// same is a == *b, made cheaper for the comparison of every call with the last key counted:
// the call's strings are mostly the very strings of that key (the parsers' strings are
// interned, a process's Group is one string), and those need no byte comparison.
func (a *protocolsKey) same(b *protocolsKey) bool {
	return a.proto == b.proto && a.role == b.role && a.port == b.port && a.oneWay == b.oneWay && a.ip == b.ip &&
		sameString(a.group, b.group) && sameFields(&a.fields, &b.fields)
}

func sameFields(a, b *parser.Fields) bool {
	for i := range a {
		if !sameString(a[i], b[i]) {
			return false
		}
	}
	return true
}

// sameString is a == b without looking at the bytes of two strings that share them.
func sameString(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

type l7Value struct {
	proc                                *Process
	rec                                 *parser.Records
	count, latency, reqBytes, respBytes uint64
	hist                                Histogram
}

// CallSums are calls of one key counted elsewhere: how many, their latencies and bytes summed,
// and how many latencies each bucket of Histogram holds.
type CallSums struct {
	N, Latency, ReqBytes, RespBytes uint64
	Buckets                         []BucketCount
}

// BucketCount is N latencies in Histogram's bucket Bucket (bucketOf).
type BucketCount struct {
	Bucket int
	N      uint32
}

// add counts one call. A one-way call has no latency to count.
func (v *l7Value) add(c *calls.Call) {
	if c.OneWay() {
		v.count++
		v.reqBytes += uint64(c.Request.Size)
		return
	}
	lat := c.Latency()
	v.count++
	v.latency += lat
	v.reqBytes += uint64(c.Request.Size)
	v.respBytes += uint64(c.Response.Size)
	v.hist.Add(lat)
}

// addSums counts calls by their sums and buckets.
func (v *l7Value) addSums(s *CallSums) {
	v.count += s.N
	v.latency += s.Latency
	v.reqBytes += s.ReqBytes
	v.respBytes += s.RespBytes
	v.hist.AddBuckets(s.Buckets)
}

type capKey struct {
	group  string
	proto  abi.Protocol
	server bool
}

type statisticsKey struct {
	group  string
	role   abi.Role
	ip     netip.Addr
	port   uint16
	socket string
}

type l4Value struct {
	proc                                           *Process
	sendBytes, recvBytes, sendPackets, recvPackets int64
}

// add counts the deltas of a stats event (x - last_output_x).
func (v *l4Value) add(ev *abi.StatsEvent) {
	v.sendBytes += ev.WrBytes - ev.LastWrBytes
	v.recvBytes += ev.RdBytes - ev.LastRdBytes
	v.sendPackets += int64(ev.WrPkts - ev.LastWrPkts)
	v.recvPackets += int64(ev.RdPkts - ev.LastRdPkts)
}

type hostKey struct {
	group string
	ip    netip.Addr
}

func newProtocolsSchema(b *base) *protocolsSchema {
	return &protocolsSchema{base: b, l7: newTable[protocolsKey, l7Value](), l4: newTable[statisticsKey, l4Value]()}
}

func newBase(cfg Config) *base {
	a := &base{
		caps:      cfg.Caps,
		keysUsed:  make(map[capKey]int),
		dropped:   make(map[abi.Protocol]uint64),
		hostNames: make(map[hostKey]hostName),
	}
	keys := make([]string, 0, len(cfg.Tags))
	for k := range cfg.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		a.tags = append(a.tags, record.Field{Key: "__tag__:" + k, Value: cfg.Tags[k]})
	}
	return a
}

// NameHost remembers, until the unix second expires (the answer's TTL), that a DNS answer seen by
// process group named ip as host, for remote_host. Past maxHostNames live names, new ones are not
// remembered.
func (a *base) NameHost(group string, ip netip.Addr, host string, expires uint32) {
	k := hostKey{group, ip.Unmap()}
	if _, known := a.hostNames[k]; !known && len(a.hostNames) >= maxHostNames {
		return
	}
	a.hostNames[k] = hostName{host, expires}
}

// Dropped returns the calls of protocol p the caps turned away since the last FlushL7.
func (a *base) Dropped(p abi.Protocol) uint64 { return a.dropped[p] }

// admit reports whether one more key of protocol p fits in group's cap, counting it if so and
// counting a dropped call if not.
func (a *base) admit(group string, p abi.Protocol, server bool) bool {
	ck := capKey{group, p, server}
	if a.keysUsed[ck] >= a.capOf(p, server) {
		a.dropped[p]++
		return false
	}
	a.keysUsed[ck]++
	return true
}

// host returns the live DNS name of ip for group.
func (a *base) host(group string, ip netip.Addr, now uint32) (string, bool) {
	h, ok := a.hostNames[hostKey{group, ip}]
	if !ok || h.expires < now {
		return "", false
	}
	return h.name, true
}

// endL7 starts a new L7 interval: caps and their counters restart, expired names go.
func (a *base) endL7(now uint32) {
	for k, h := range a.hostNames {
		if h.expires < now {
			delete(a.hostNames, k)
		}
	}
	clear(a.keysUsed)
	clear(a.dropped)
}

// AddCall counts one call of process p.
func (a *protocolsSchema) AddCall(p *Process, c *calls.Call) {
	if v := a.value(p, c); v != nil {
		v.add(c)
	}
}

func (a *protocolsSchema) AddCalls(p *Process, c *calls.Call, s *CallSums) {
	if v := a.value(p, c); v != nil {
		v.addSums(s)
	}
}

// value is the value of c's key, added if new; nil when the cap turns the key away (counted).
func (a *protocolsSchema) value(p *Process, c *calls.Call) *l7Value {
	// One field per statement: a tuple assignment evaluates into temporaries first, then copies
	// them 16 bytes at a time (a store-forwarding stall).
	k := &a.key
	k.group = p.Group
	k.proto = c.Protocol
	k.role = c.Role
	k.ip = c.Remote.Addr().Unmap()
	k.port = c.Remote.Port()
	if c.Role == abi.RoleServer {
		k.port = 0 // all clients of a server aggregate together
	}
	c.FieldsProtocols(&k.fields)
	k.oneWay = c.OneWay()
	r := &a.recent[0]
	if c.Role == abi.RoleServer {
		r = &a.recent[1]
	}
	if r.value != nil && r.key.same(k) {
		return r.value
	}
	v := a.l7.get(*k)
	if v == nil {
		if !a.admit(p.Group, c.Protocol, c.Role == abi.RoleServer) {
			return nil
		}
		v = a.l7.add(*k, l7Value{proc: p, rec: c.Records})
	}
	r.key, r.value = *k, v
	return v
}

func (a *base) capOf(p abi.Protocol, server bool) int {
	c, ok := a.caps[p]
	if !ok {
		c = DefaultCap
	}
	if server {
		return c.ServerSize
	}
	return c.ClientSize
}

// AddStats counts the L4 deltas a stats event carries (x - last_output_x).
func (a *protocolsSchema) AddStats(p *Process, ev *abi.StatsEvent) {
	k := statisticsKey{group: p.Group, role: ev.Role, ip: ev.Addr.Addr().Unmap(), port: ev.Addr.Port(), socket: SocketType(ev.Addr)}
	if ev.Role == abi.RoleServer {
		k.port = 0
	}
	v := a.l4.get(k)
	if v == nil {
		v = a.l4.add(k, l4Value{proc: p})
	}
	v.add(ev)
}

// SocketType is the socket_type of records: inet_socket, unix_socket or unknown_socket.
func SocketType(a abi.SockAddr) string {
	switch a.Family {
	case abi.FamilyInet, abi.FamilyInet6:
		return "inet_socket"
	case abi.FamilyUnix:
		return "unix_socket"
	}
	return "unknown_socket"
}

// remoteInfo is the compact JSON object with sorted keys and a trailing newline that iLogtail
// wrote: remote_host only when known, remote_type only for clients.
func (a *protocolsSchema) remoteInfo(group string, ip netip.Addr, port uint16, remoteTypeValue string, now uint32) string {
	b := make([]byte, 0, 96)
	b = append(b, '{')
	if host, ok := a.host(group, ip, now); ok {
		// A name from a DNS answer: any bytes at all.
		b = append(b, `"remote_host":`...)
		b = jsonenc.AppendString(b, host, jsonenc.EscapeEncodingJSON)
		b = append(b, ',')
	}
	b = append(b, `"remote_ip":"`...)
	if ip.IsValid() {
		b = ip.AppendTo(b)
	}
	b = append(b, `","remote_port":"`...)
	b = strconv.AppendUint(b, uint64(port), 10)
	b = append(b, '"')
	if remoteTypeValue != "" {
		b = append(b, `,"remote_type":`...)
		b = jsonenc.AppendString(b, remoteTypeValue, jsonenc.EscapeEncodingJSON)
	}
	b = append(b, "}\n"...)
	return string(b)
}

// RoleName is the role of schema A records: client, server or unknown.
func RoleName(r abi.Role) string {
	switch r {
	case abi.RoleClient:
		return "client"
	case abi.RoleServer:
		return "server"
	}
	return "unknown"
}

func (a *protocolsSchema) head(typ string, p *Process, unixSeconds uint32) record.Record {
	r := record.Record{Time: unixSeconds}
	r.Add("type", typ)
	r.Fields = append(r.Fields, p.Meta...)
	r.Fields = append(r.Fields, a.tags...)
	return r
}

// FlushL7 returns the protocols records of the interval, in the order their keys first appeared.
func (a *protocolsSchema) FlushL7(unixSeconds uint32) []record.Record {
	out := make([]record.Record, 0, len(a.l7.order))
	for _, k := range a.l7.order {
		v := a.l7.m[k]
		r := a.head("protocols", v.proc, unixSeconds)
		r.Add("protocol", v.rec.Name)
		for i, name := range v.rec.Protocols {
			r.Add(name, k.fields[i])
		}
		r.Add("role", RoleName(k.role))
		rt := ""
		if k.role == abi.RoleClient {
			rt = v.rec.RemoteType
		}
		r.Add("remote_info", a.remoteInfo(k.group, k.ip, k.port, rt, unixSeconds))
		r.Add("total_count", strconv.FormatUint(v.count, 10))
		r.Add("total_latency_ns", strconv.FormatUint(v.latency, 10))
		r.Add("total_req_bytes", strconv.FormatUint(v.reqBytes, 10))
		r.Add("total_resp_bytes", strconv.FormatUint(v.respBytes, 10))
		r.Add("p50_latency_ns", strconv.FormatUint(v.hist.Quantile(0.50), 10))
		r.Add("p90_latency_ns", strconv.FormatUint(v.hist.Quantile(0.90), 10))
		r.Add("p99_latency_ns", strconv.FormatUint(v.hist.Quantile(0.99), 10))
		addOneWay(&r, k.oneWay)
		out = append(out, r)
	}
	a.endL7(unixSeconds)
	a.l7.reset()
	clear(a.recent[:])
	return out
}

// addOneWay marks the record of one-way calls: one_way "1", their latencies 0 for having none.
// Records of answered calls have no one_way field, as before one-way calls existed.
func addOneWay(r *record.Record, oneWay bool) {
	if oneWay {
		r.Add("one_way", "1")
	}
}

// FlushL4 returns the statistics records of the interval.
func (a *protocolsSchema) FlushL4(unixSeconds uint32) []record.Record {
	out := make([]record.Record, 0, len(a.l4.order))
	for _, k := range a.l4.order {
		v := a.l4.m[k]
		r := a.head("statistics", v.proc, unixSeconds)
		rt := ""
		if k.role == abi.RoleClient {
			rt = "server" // L4 does not know the protocol: a client talks to a server
		}
		r.Add("remote_info", a.remoteInfo(k.group, k.ip, k.port, rt, unixSeconds))
		r.Add("socket_type", k.socket)
		r.Add("role", RoleName(k.role))
		r.Add("send_bytes", strconv.FormatInt(v.sendBytes, 10))
		r.Add("recv_bytes", strconv.FormatInt(v.recvBytes, 10))
		r.Add("send_packets", strconv.FormatInt(v.sendPackets, 10))
		r.Add("recv_packets", strconv.FormatInt(v.recvPackets, 10))
		r.Add("send_total_latency", "0")
		r.Add("recv_total_latency", "0")
		out = append(out, r)
	}
	a.l4.reset()
	return out
}

// table holds the aggregation state of one interval: a map that remembers the order its keys
// came in, which is the order records come out in.
type table[K comparable, V any] struct {
	m     map[K]*V
	order []K
}

func newTable[K comparable, V any]() table[K, V] { return table[K, V]{m: make(map[K]*V)} }

func (t *table[K, V]) get(k K) *V { return t.m[k] }

// add makes v the value of the new key k and returns where it is held.
func (t *table[K, V]) add(k K, v V) *V {
	p := &v
	t.m[k] = p
	t.order = append(t.order, k)
	return p
}

// reset empties the table for the next interval, keeping its memory.
func (t *table[K, V]) reset() {
	clear(t.m)
	t.order = t.order[:0]
}
