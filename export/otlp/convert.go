package otlp

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/netobserver/netobserver/parser/protocols"
	"github.com/netobserver/netobserver/record"
)

// scope names the metrics' instrumentation scope.
var scope = instrumentation.Scope{Name: "github.com/netobserver/netobserver/export/otlp"}

// Metric names (OpenTelemetry style: dotted, unit in the unit field).
const (
	metricCalls        = "netobserver.l7.calls"
	metricErrors       = "netobserver.l7.errors"
	metricDuration     = "netobserver.l7.duration"
	metricQuantile     = "netobserver.l7.duration.quantile"
	metricRequestSize  = "netobserver.l7.request.size"
	metricResponseSize = "netobserver.l7.response.size"
	metricL4Bytes      = "netobserver.l4.bytes"
	metricL4Packets    = "netobserver.l4.packets"
	metricLatency      = "netobserver.l7.latency"
)

// batch is what one export sends: the metrics of one process (group) from records, or the live
// histogram.
type batch struct {
	rm      *metricdata.ResourceMetrics
	records int
}

// converter turns records into batches, one per resource (process, container or pod).
type converter struct {
	host string
	// last is the time of the previous records of each type, the start of the next ones' interval.
	last map[string]time.Time
}

// points gathers one resource's data points per metric while its records are converted.
type points struct {
	res     []attribute.KeyValue
	records int
	calls   []metricdata.DataPoint[int64]
	errors  []metricdata.DataPoint[int64]
	dur     []metricdata.HistogramDataPoint[float64]
	quant   []metricdata.DataPoint[float64]
	req     []metricdata.DataPoint[int64]
	resp    []metricdata.DataPoint[int64]
	l4Bytes []metricdata.DataPoint[int64]
	l4Pkts  []metricdata.DataPoint[int64]
}

// convert returns the batches of records, in the order their resources first appear, and the
// records it could not read (which it names in err).
func (c *converter) convert(records []record.Record) (out []batch, failed int, err error) {
	byRes := map[string]*points{}
	var order []*points
	var errs []string
	for i := range records {
		r := &records[i]
		typ, _ := r.Get("type")
		end := time.Unix(int64(r.Time), 0)
		start, ok := c.last[typ]
		if !ok || !start.Before(end) {
			start = end
		}
		key, res, dp, rest := split(r)
		p := byRes[key]
		if p == nil {
			p = &points{res: c.resource(res)}
			byRes[key] = p
			order = append(order, p)
		}
		var e error
		switch typ {
		case "protocols":
			e = p.l7(dp, rest, start, end)
		case "statistics":
			e = p.l4(dp, rest, start, end)
		default:
			e = fmt.Errorf("record type %q is not exported (schema A's protocols and statistics are)", typ)
		}
		if e != nil {
			failed++
			if len(errs) < 3 {
				errs = append(errs, e.Error())
			}
			continue
		}
		p.records++
	}
	for _, r := range records {
		typ, _ := r.Get("type")
		if t := time.Unix(int64(r.Time), 0); t.After(c.last[typ]) {
			c.last[typ] = t
		}
	}
	for _, p := range order {
		if p.records > 0 {
			out = append(out, batch{rm: p.resourceMetrics(), records: p.records})
		}
	}
	if failed > 0 {
		err = fmt.Errorf("%s: %d records not converted: %s", TypeName, failed, strings.Join(errs, "; "))
	}
	return out, failed, err
}

// split sorts a record's fields: the resource's (process meta and tags, and their key), the data
// point's (protocol fields, role, remote), and the counts.
func split(r *record.Record) (key string, res, dp, rest []record.Field) {
	var b strings.Builder
	for _, f := range r.Fields {
		switch {
		case f.Key == "type":
		case strings.HasPrefix(f.Key, "__tag__:") || isProcessField(f.Key):
			res = append(res, f)
			b.WriteString(f.Key)
			b.WriteByte(0)
			b.WriteString(f.Value)
			b.WriteByte(0)
		case strings.HasPrefix(f.Key, "total_") || strings.HasSuffix(f.Key, "_latency_ns") ||
			strings.HasSuffix(f.Key, "_bytes") || strings.HasSuffix(f.Key, "_packets") || strings.HasSuffix(f.Key, "_total_latency"):
			rest = append(rest, f)
		default:
			dp = append(dp, f)
		}
	}
	return b.String(), res, dp, rest
}

func isProcessField(k string) bool {
	switch k {
	case "_process_pid_", "_process_cmd_", "_running_mode_", "_container_name_", "_pod_name_", "_namespace_", "_workload_name_":
		return true
	}
	return false
}

// resource maps a record's process fields and tags to resource attributes (OpenTelemetry
// semantic conventions where one fits).
func (c *converter) resource(fields []record.Field) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String("host.name", c.host)}
	get := func(k string) string {
		for _, f := range fields {
			if f.Key == k {
				return f.Value
			}
		}
		return ""
	}
	mode := get("_running_mode_")
	service := ""
	switch mode {
	case "kubernetes":
		attrs = append(attrs,
			attribute.String("k8s.pod.name", get("_pod_name_")),
			attribute.String("k8s.namespace.name", get("_namespace_")),
			attribute.String("k8s.container.name", get("_container_name_")))
		if w := get("_workload_name_"); w != "" {
			attrs = append(attrs, attribute.String("netobserver.k8s.workload.name", w))
			service = w
		} else {
			service = get("_pod_name_")
		}
	case "container":
		service = get("_container_name_")
		attrs = append(attrs, attribute.String("container.name", service))
	default:
		if pid, err := strconv.ParseInt(get("_process_pid_"), 10, 64); err == nil {
			attrs = append(attrs, attribute.Int64("process.pid", pid))
		}
		cmd := get("_process_cmd_")
		attrs = append(attrs, attribute.String("process.command", cmd))
		if first, _, _ := strings.Cut(cmd, " "); first != "" {
			service = path.Base(first)
		}
	}
	if service == "" {
		service = "unknown_service"
	}
	attrs = append(attrs, attribute.String("service.name", service), attribute.String("netobserver.running_mode", mode))
	for _, f := range fields {
		if t, ok := strings.CutPrefix(f.Key, "__tag__:"); ok {
			attrs = append(attrs, attribute.String(t, f.Value))
		}
	}
	return attrs
}

// remoteInfo is the record's remote_info.
type remoteInfo struct {
	Host string `json:"remote_host"`
	IP   string `json:"remote_ip"`
	Port string `json:"remote_port"`
	Type string `json:"remote_type"`
}

// common are the attributes of L7 and L4 points alike: role and remote.
func common(dp []record.Field) ([]attribute.KeyValue, error) {
	var attrs []attribute.KeyValue
	for _, f := range dp {
		switch f.Key {
		case "role":
			attrs = append(attrs, attribute.String("netobserver.role", f.Value))
		case "socket_type":
			attrs = append(attrs, attribute.String("netobserver.socket.type", f.Value))
		case "remote_info":
			var ri remoteInfo
			if err := json.Unmarshal([]byte(f.Value), &ri); err != nil {
				return nil, fmt.Errorf("remote_info %q: %v", f.Value, err)
			}
			if ri.IP != "" {
				attrs = append(attrs, attribute.String("network.peer.address", ri.IP))
			}
			if port, err := strconv.Atoi(ri.Port); err == nil && port > 0 {
				attrs = append(attrs, attribute.Int("network.peer.port", port))
			}
			if ri.Host != "" {
				attrs = append(attrs, attribute.String("netobserver.remote.host", ri.Host))
			}
			if ri.Type != "" {
				attrs = append(attrs, attribute.String("netobserver.remote.type", ri.Type))
			}
		}
	}
	return attrs, nil
}

// protocolNames are network.protocol.name and the system attribute (db.system.name or
// messaging.system) of the record protocols OpenTelemetry's conventions name; any other protocol
// is named as its records name it.
var protocolNames = map[string]struct{ network, system, value string }{
	"http":      {"http", "", ""},
	"http2":     {"http", "", ""},
	"dns":       {"dns", "", ""},
	"mysql":     {"mysql", "db.system.name", "mysql"},
	"pgsql":     {"postgresql", "db.system.name", "postgresql"},
	"redis":     {"redis", "db.system.name", "redis"},
	"memcached": {"memcached", "db.system.name", "memcached"},
	"kafka":     {"kafka", "messaging.system", "kafka"},
}

// fieldAttributes are the conventions' names of protocol fields; a field of a protocol that has
// none becomes netobserver.<protocol>.<field>. success says whether the call failed, and one_way
// marks the records of one-way messages.
var fieldAttributes = map[string]map[string]string{
	"memcached": {"cmd": "db.operation.name"},
	"kafka":     {"api": "messaging.operation.name", "topic": "messaging.destination.name"},
	"nats":      {"op": "messaging.operation.name", "subject": "messaging.destination.name"},
	"mqtt":      {"packet": "messaging.operation.name", "topic": "messaging.destination.name"},
	"amqp":      {"method": "messaging.operation.name", "exchange": "messaging.destination.name"},
}

// schemaFields are the protocol fields of the protocols schema's records (schema A) of each
// protocol the observer records, from the registry: a protocol added there reaches OTLP without
// a line here.
var schemaFields = func() map[string][]string {
	m := map[string][]string{}
	for _, p := range protocols.All {
		m[p.Records().Name] = p.Records().Protocols
	}
	return m
}()

// l7 adds the points of one protocols record. Whether its calls failed is in its key (HTTP status
// 400 and above, as the live metrics count them; success "0" for the others).
func (p *points) l7(dp, rest []record.Field, start, end time.Time) error {
	attrs, err := common(dp)
	if err != nil {
		return err
	}
	get := func(k string) (string, bool) { return fieldOf(dp, k) }
	proto, _ := get("protocol")
	fields, ok := schemaFields[proto]
	if !ok {
		return fmt.Errorf("protocol %q unknown", proto)
	}
	names, ok := protocolNames[proto]
	if !ok {
		names.network = proto
	}
	attrs = append(attrs, attribute.String("network.protocol.name", names.network))
	if names.system != "" {
		attrs = append(attrs, attribute.String(names.system, names.value))
	}
	oneWay, _ := get("one_way")
	if oneWay == "1" {
		attrs = append(attrs, attribute.Bool("netobserver.one_way", true))
	}
	failed := false
	switch proto {
	case "http", "http2":
		switch v, _ := get("version"); {
		case proto == "http2":
			attrs = append(attrs, attribute.String("network.protocol.version", "2"))
		case v == "0":
			attrs = append(attrs, attribute.String("network.protocol.version", "1.0"))
		default:
			attrs = append(attrs, attribute.String("network.protocol.version", "1.1"))
		}
		m, _ := get("method")
		u, _ := get("url")
		h, _ := get("host")
		attrs = append(attrs, attribute.String("http.request.method", m), attribute.String("url.path", u))
		if h != "" {
			attrs = append(attrs, attribute.String("server.address", h))
		}
		code, _ := get("resp_code")
		n, err := strconv.Atoi(code)
		if err != nil {
			return fmt.Errorf("resp_code %q is not a number", code)
		}
		attrs = append(attrs, attribute.Int("http.response.status_code", n))
		failed = n >= 400
		if failed {
			attrs = append(attrs, attribute.String("error.type", code))
		}
		// gRPC over HTTP/2: its status, and a call that failed whatever the HTTP status said.
		gs, _ := get("grpc_status")
		if g, err := strconv.Atoi(gs); err == nil && g >= 0 {
			attrs = append(attrs, attribute.String("rpc.system", "grpc"), attribute.Int("rpc.grpc.status_code", g))
			if g != 0 && !failed {
				failed = true
				attrs = append(attrs, attribute.String("error.type", strconv.Itoa(g)))
			}
		}
	case "dns":
		q, _ := get("query_record")
		t, _ := get("query_type")
		attrs = append(attrs, attribute.String("dns.question.name", q), attribute.String("netobserver.dns.query.type", t))
	case "mysql", "pgsql":
		sql, _ := get("sql")
		attrs = append(attrs, attribute.String("db.query.text", sql))
		if op, _, _ := strings.Cut(strings.TrimSpace(sql), " "); op != "" {
			attrs = append(attrs, attribute.String("db.operation.name", strings.ToUpper(op)))
		}
	case "redis":
		cmd, _ := get("cmd")
		attrs = append(attrs, attribute.String("db.operation.name", cmd))
	default:
		for _, f := range fields {
			v, ok := get(f)
			if f == "success" || !ok {
				continue
			}
			name := fieldAttributes[proto][f]
			if name == "" {
				name = "netobserver." + proto + "." + f
			}
			attrs = append(attrs, attribute.String(name, v))
		}
	}
	if proto != "http" && proto != "http2" {
		s, _ := get("success")
		failed = s == "0"
		if failed {
			attrs = append(attrs, attribute.String("error.type", "_OTHER"))
		}
	}
	var n [7]uint64
	for i, k := range []string{"total_count", "total_latency_ns", "total_req_bytes", "total_resp_bytes", "p50_latency_ns", "p90_latency_ns", "p99_latency_ns"} {
		v, ok := fieldOf(rest, k)
		if !ok && i >= 4 {
			continue // written since schema A grew quantiles; absent from older traces' goldens
		}
		if n[i], err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("%s %q is not a count", k, v)
		}
	}
	set := attribute.NewSet(attrs...)
	pt := func(v uint64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: set, StartTime: start, Time: end, Value: int64(v)}
	}
	p.calls = append(p.calls, pt(n[0]))
	if failed {
		p.errors = append(p.errors, pt(n[0]))
	}
	p.req = append(p.req, pt(n[2]))
	p.resp = append(p.resp, pt(n[3]))
	if oneWay == "1" {
		return nil // one-way messages have no latency (their records say 0)
	}
	// The records carry the interval's count, sum and three quantiles, not buckets: a histogram
	// of one bucket holds the first two, a gauge per quantile the others.
	p.dur = append(p.dur, metricdata.HistogramDataPoint[float64]{Attributes: set, StartTime: start, Time: end, Count: n[0],
		BucketCounts: []uint64{n[0]}, Sum: float64(n[1]) / 1e9})
	for i, q := range []string{"0.5", "0.9", "0.99"} {
		qs := attribute.NewSet(append(slices.Clip(attrs), attribute.String("quantile", q))...)
		p.quant = append(p.quant, metricdata.DataPoint[float64]{Attributes: qs, StartTime: start, Time: end, Value: float64(n[4+i]) / 1e9})
	}
	return nil
}

// l4 adds the points of one statistics record.
func (p *points) l4(dp, rest []record.Field, start, end time.Time) error {
	attrs, err := common(dp)
	if err != nil {
		return err
	}
	var n [4]int64
	for i, k := range []string{"send_bytes", "recv_bytes", "send_packets", "recv_packets"} {
		v, _ := fieldOf(rest, k)
		if n[i], err = strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("%s %q is not a count", k, v)
		}
	}
	for i, dir := range []string{"transmit", "receive"} {
		set := attribute.NewSet(append(slices.Clip(attrs), attribute.String("network.io.direction", dir))...)
		p.l4Bytes = append(p.l4Bytes, metricdata.DataPoint[int64]{Attributes: set, StartTime: start, Time: end, Value: n[i]})
		p.l4Pkts = append(p.l4Pkts, metricdata.DataPoint[int64]{Attributes: set, StartTime: start, Time: end, Value: n[2+i]})
	}
	return nil
}

func fieldOf(fs []record.Field, k string) (string, bool) {
	for _, f := range fs {
		if f.Key == k {
			return f.Value, true
		}
	}
	return "", false
}

func (p *points) resourceMetrics() *metricdata.ResourceMetrics {
	var ms []metricdata.Metrics
	sum := func(name, desc, unit string, dps []metricdata.DataPoint[int64]) {
		if len(dps) > 0 {
			ms = append(ms, metricdata.Metrics{Name: name, Description: desc, Unit: unit,
				Data: metricdata.Sum[int64]{DataPoints: dps, Temporality: metricdata.DeltaTemporality, IsMonotonic: true}})
		}
	}
	sum(metricCalls, "Calls (request and response pairs).", "{call}", p.calls)
	sum(metricErrors, "Calls that failed: HTTP status 400 and above, a DNS query without answers, a database or Redis error.", "{call}", p.errors)
	if len(p.dur) > 0 {
		ms = append(ms, metricdata.Metrics{Name: metricDuration, Unit: "s",
			Description: "Latency from a request's first byte to its response's first byte: the interval's count and sum (one bucket).",
			Data:        metricdata.Histogram[float64]{DataPoints: p.dur, Temporality: metricdata.DeltaTemporality}},
			metricdata.Metrics{Name: metricQuantile, Unit: "s",
				Description: "The 0.5, 0.9 and 0.99 quantiles of the interval's latencies (attribute quantile), from the observer's log histogram.",
				Data:        metricdata.Gauge[float64]{DataPoints: p.quant}})
	}
	sum(metricRequestSize, "Bytes of requests.", "By", p.req)
	sum(metricResponseSize, "Bytes of responses.", "By", p.resp)
	sum(metricL4Bytes, "Bytes sent and received by observed sockets.", "By", p.l4Bytes)
	sum(metricL4Packets, "Send and receive syscalls on observed sockets.", "{syscall}", p.l4Pkts)
	return &metricdata.ResourceMetrics{
		Resource:     resource.NewSchemaless(p.res...),
		ScopeMetrics: []metricdata.ScopeMetrics{{Scope: scope, Metrics: ms}},
	}
}
