package aggregate

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/record/jsonenc"

	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/record"
)

// l4l7Schema aggregates per connection (L7) and per process, remote and role (L4), as iLogtail
// 1.3 … 2.0 did.
type l4l7Schema struct {
	*base
	node                   string
	l4Interval, l7Interval string
	l7                     table[l7Key, l7Value]
	l4                     table[l4Key, l4Value]
	key                    l7Key // as protocolsSchema.key
}

type l7Key struct {
	conn   abi.ConnID
	proto  abi.Protocol
	role   abi.Role
	remote abi.SockAddr
	fields parser.Fields
	oneWay bool // as in protocolsKey
}

type l4Key struct {
	pid    uint32
	role   abi.Role
	ip     netip.Addr
	port   uint16
	socket string
}

func newL4L7Schema(b *base, cfg Config) *l4l7Schema {
	return &l4l7Schema{
		base: b, node: cfg.Host,
		l4Interval: strconv.FormatUint(uint64(cfg.L4Interval), 10),
		l7Interval: strconv.FormatUint(uint64(cfg.L7Interval), 10),
		l7:         newTable[l7Key, l7Value](),
		l4:         newTable[l4Key, l4Value](),
	}
}

func (a *l4l7Schema) AddCall(p *Process, c *calls.Call) {
	if v := a.value(p, c); v != nil {
		v.add(c)
	}
}

func (a *l4l7Schema) AddCalls(p *Process, c *calls.Call, s *CallSums) {
	if v := a.value(p, c); v != nil {
		v.addSums(s)
	}
}

// value is as protocolsSchema.value.
func (a *l4l7Schema) value(p *Process, c *calls.Call) *l7Value {
	k := &a.key // field by field, as in protocolsSchema.value
	k.conn = c.Conn
	k.proto = c.Protocol
	k.role = c.Role
	k.remote = c.Remote
	k.oneWay = c.OneWay()
	c.FieldsL4L7(&k.fields)
	v := a.l7.get(*k)
	if v == nil {
		if !a.admit(p.Group, c.Protocol, c.Role == abi.RoleServer) {
			return nil
		}
		v = a.l7.add(*k, l7Value{proc: p, rec: c.Records})
	}
	return v
}

func (a *l4l7Schema) AddStats(p *Process, ev *abi.StatsEvent) {
	k := l4Key{pid: ev.ConnID.TGID, role: ev.Role, ip: ev.Addr.Addr().Unmap(), port: ev.Addr.Port(), socket: SocketType(ev.Addr)}
	v := a.l4.get(k)
	if v == nil {
		v = a.l4.add(k, l4Value{proc: p})
	}
	v.add(ev)
}

// localInfo is the process meta as a compact JSON object with sorted keys.
func localInfo(p *Process) string {
	fields := slices.Clone(p.Meta)
	slices.SortFunc(fields, func(x, y record.Field) int { return strings.Compare(x.Key, y.Key) })
	b := make([]byte, 0, 128)
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, f.Key, jsonenc.EscapeEncodingJSON)
		b = append(b, ':')
		b = jsonenc.AppendString(b, f.Value, jsonenc.EscapeEncodingJSON)
	}
	b = append(b, '}')
	return string(b)
}

func shortRole(r abi.Role) string {
	switch r {
	case abi.RoleClient:
		return "c"
	case abi.RoleServer:
		return "s"
	}
	return "u"
}

// connID is the 64-bit identity of a connection on this host: FNV-1a over the host name and the
// kernel's connection id (full 32-bit pid, unlike iLogtail's 16-bit truncation).
func (a *l4l7Schema) connID(parts ...uint64) string {
	h := fnv.New64a()
	h.Write([]byte(a.node))
	var b [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(b[:], p)
		h.Write(b[:])
	}
	return strconv.FormatUint(h.Sum64(), 10)
}

func (a *l4l7Schema) remoteInfo(group string, ip netip.Addr, now uint32) string {
	name, ok := a.host(group, ip, now)
	if !ok && ip.IsValid() {
		name = ip.String()
	}
	return string(jsonenc.AppendString([]byte(`{"_remote_host_":`), name, jsonenc.EscapeEncodingJSON)) + "}"
}

func addrText(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

// The local address and port are not in the ABI's events; they come with netlink resolution.
const unknownLocalAddr, unknownLocalPort = "", "0"

func (a *l4l7Schema) FlushL7(unixSeconds uint32) []record.Record {
	out := make([]record.Record, 0, len(a.l7.order))
	for _, k := range a.l7.order {
		v := a.l7.m[k]
		r := record.Record{Time: unixSeconds}
		r.Fields = append(r.Fields, a.tags...)
		r.Add("local_info", localInfo(v.proc))
		r.Add("interval", a.l7Interval)
		for i, name := range v.rec.L4L7.Names {
			r.Add(name, k.fields[i])
		}
		r.Add("protocol", v.rec.Name)
		r.Add("type", v.rec.L4L7.Type)
		ip := k.remote.Addr().Unmap()
		r.Add("role", shortRole(k.role))
		r.Add("_remote_addr_", addrText(ip))
		r.Add("_remote_port_", strconv.Itoa(int(k.remote.Port())))
		r.Add("_local_port_", unknownLocalPort)
		r.Add("_local_addr_", unknownLocalAddr)
		r.Add("conn_id", a.connID(uint64(k.conn.TGID), uint64(uint32(k.conn.FD)), k.conn.Start))
		r.Add("remote_info", a.remoteInfo(v.proc.Group, ip, unixSeconds))
		r.Add("count", strconv.FormatUint(v.count, 10))
		r.Add("latency_ns", strconv.FormatUint(v.latency, 10))
		r.Add("req_bytes", strconv.FormatUint(v.reqBytes, 10))
		r.Add("resp_bytes", strconv.FormatUint(v.respBytes, 10))
		r.Add("tdigest_latency", EncodeSketch(&v.hist))
		addOneWay(&r, k.oneWay)
		out = append(out, r)
	}
	a.endL7(unixSeconds)
	a.l7.reset()
	return out
}

func (a *l4l7Schema) FlushL4(unixSeconds uint32) []record.Record {
	out := make([]record.Record, 0, len(a.l4.order))
	for _, k := range a.l4.order {
		v := a.l4.m[k]
		r := record.Record{Time: unixSeconds}
		r.Fields = append(r.Fields, a.tags...)
		r.Add("local_info", localInfo(v.proc))
		r.Add("interval", a.l4Interval)
		r.Add("_local_addr_", unknownLocalAddr)
		r.Add("_local_port_", unknownLocalPort)
		r.Add("_remote_addr_", addrText(k.ip))
		r.Add("_remote_port_", strconv.Itoa(int(k.port)))
		r.Add("remote_info", a.remoteInfo(v.proc.Group, k.ip, unixSeconds))
		r.Add("role", shortRole(k.role))
		ipBytes := k.ip.As16()
		r.Add("conn_id", a.connID(uint64(k.pid), binary.BigEndian.Uint64(ipBytes[:8]), binary.BigEndian.Uint64(ipBytes[8:]), uint64(k.port), uint64(k.role)))
		r.Add("conn_type", "tcp")
		r.Add("type", "l4")
		r.Add("send_bytes", strconv.FormatInt(v.sendBytes, 10))
		r.Add("recv_bytes", strconv.FormatInt(v.recvBytes, 10))
		r.Add("send_packets", strconv.FormatInt(v.sendPackets, 10))
		r.Add("recv_packets", strconv.FormatInt(v.recvPackets, 10))
		out = append(out, r)
	}
	a.l4.reset()
	return out
}

// sketchMagic starts every encoded sketch: "NOTD" and format version 1.
var sketchMagic = [5]byte{'N', 'O', 'T', 'D', 1}

// EncodeSketch serialises a latency distribution for tdigest_latency: base64 (standard, padded)
// of the 5-byte header "NOTD\x01", a little-endian uint32 centroid count, then per centroid a
// little-endian float64 mean in ns and uint32 weight, means ascending. Each centroid is one
// histogram bucket, so any quantile read from the centroids is within 5% of the true value.
func EncodeSketch(h *Histogram) string {
	buf := append([]byte(nil), sketchMagic[:]...)
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	n := uint32(0)
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(BucketMiddle(i)))
		buf = binary.LittleEndian.AppendUint32(buf, c)
		n++
	}
	binary.LittleEndian.PutUint32(buf[len(sketchMagic):], n)
	return base64.StdEncoding.EncodeToString(buf)
}

// Centroid is one (mean, weight) pair of a decoded sketch.
type Centroid struct {
	Mean   float64
	Weight uint32
}

// DecodeSketch reads what EncodeSketch wrote; ok is false for anything else.
func DecodeSketch(s string) (centroids []Centroid, ok bool) {
	buf, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(buf) < len(sketchMagic)+4 || [5]byte(buf[:5]) != sketchMagic {
		return nil, false
	}
	n := binary.LittleEndian.Uint32(buf[5:])
	body := buf[9:]
	if uint64(len(body)) != uint64(n)*12 {
		return nil, false
	}
	for i := range int(n) {
		c := body[i*12:]
		centroids = append(centroids, Centroid{
			Mean:   math.Float64frombits(binary.LittleEndian.Uint64(c)),
			Weight: binary.LittleEndian.Uint32(c[8:]),
		})
	}
	return centroids, true
}
