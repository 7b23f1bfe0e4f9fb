//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

type record = map[string]string

// where returns the records of type typ for which keep is true.
func where(recs []record, typ string, keep func(record) bool) []record {
	var out []record
	for _, r := range recs {
		if r["type"] == typ && keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// ofPid keeps the records of one process.
func ofPid(cmd *exec.Cmd) func(record) bool {
	pid := strconv.Itoa(cmd.Process.Pid)
	return func(r record) bool { return r["_process_pid_"] == pid }
}

// fromClient keeps the server-side records of calls made from addr (remote_ip is the client's).
func fromClient(protocol string, addr netip.Addr) func(record) bool {
	return func(r record) bool {
		return r["protocol"] == protocol && r["role"] == "server" &&
			strings.Contains(r["remote_info"], `"remote_ip":"`+addr.String()+`"`)
	}
}

// remote is the remote_info iLogtail writes: sorted keys, compact, a trailing newline;
// remote_type only for the client role.
func remote(ip netip.Addr, port int, typ string) string {
	return remoteHost("", ip, port, typ)
}

// remoteHost is remote with remote_host: the name a DNS answer seen by the same process gave ip.
func remoteHost(host string, ip netip.Addr, port int, typ string) string {
	if host != "" {
		return fmt.Sprintf(`{"remote_host":"%s","remote_ip":"%s","remote_port":"%d","remote_type":"%s"}`+"\n", host, ip, port, typ)
	}
	if typ == "" {
		return fmt.Sprintf(`{"remote_ip":"%s","remote_port":"%d"}`+"\n", ip, port)
	}
	return fmt.Sprintf(`{"remote_ip":"%s","remote_port":"%d","remote_type":"%s"}`+"\n", ip, port, typ)
}

// summaries turns records into comparable one-line summaries of the given fields plus the call
// count, sorted: two record sets are equal when their summaries are, and a difference reads as a
// list of what is missing and what is extra.
func summaries(recs []record, fields ...string) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, summary(r, fields...))
	}
	sort.Strings(out)
	return out
}

func summary(r record, fields ...string) string {
	parts := make([]string, 0, len(fields)+1)
	for _, f := range fields {
		parts = append(parts, f+"="+strconv.Quote(r[f]))
	}
	return strings.Join(append(parts, "count="+r["total_count"]), " ")
}

// call is one expected protocols record: its key fields and its call count.
type call struct {
	fields []string // name, value, name, value, …
	count  int
}

func expect(calls []call, fields ...string) []string {
	out := make([]string, 0, len(calls))
	for _, c := range calls {
		r := record{"total_count": strconv.Itoa(c.count)}
		for i := 0; i+1 < len(c.fields); i += 2 {
			r[c.fields[i]] = c.fields[i+1]
		}
		out = append(out, summary(r, fields...))
	}
	sort.Strings(out)
	return out
}

// sum adds up field over records.
func sum(recs []record, field string) int {
	total := 0
	for _, r := range recs {
		n, err := strconv.Atoi(r[field])
		if err != nil {
			panic(fmt.Sprintf("%s=%q is not a number in %v", field, r[field], r))
		}
		total += n
	}
	return total
}

// byKey aggregates protocols records over processes (postgres backends: one per connection) by
// their summary without the count, adding counts and byte totals.
func byKey(recs []record, fields ...string) map[string][3]int {
	out := map[string][3]int{}
	for _, r := range recs {
		k := summary(r, fields...)
		k = k[:strings.LastIndex(k, " count=")]
		v := out[k]
		v[0] += sum([]record{r}, "total_count")
		v[1] += sum([]record{r}, "total_req_bytes")
		v[2] += sum([]record{r}, "total_resp_bytes")
		out[k] = v
	}
	return out
}

// checkStats asserts the one statistics record of a process towards a remote: socket type, role,
// remote_info, and — where known — exact bytes and packets (syscalls); a negative want is only
// required to be positive.
func checkStats(t *testing.T, recs []record, role, remoteInfo string, sendBytes, recvBytes, sendPkts, recvPkts int) record {
	t.Helper()
	if !assert.Len(t, recs, 1, "one statistics record: %v", recs) {
		return nil
	}
	r := recs[0]
	assert.Equal(t, "inet_socket", r["socket_type"])
	assert.Equal(t, role, r["role"])
	assert.Equal(t, remoteInfo, r["remote_info"])
	for _, c := range []struct {
		field string
		want  int
	}{{"send_bytes", sendBytes}, {"recv_bytes", recvBytes}, {"send_packets", sendPkts}, {"recv_packets", recvPkts}} {
		got := sum(recs, c.field)
		if c.want < 0 {
			assert.Positive(t, got, c.field)
		} else {
			assert.Equal(t, c.want, got, c.field)
		}
	}
	// eBPF cannot measure the time a syscall waited: iLogtail writes 0.
	assert.Equal(t, "0", r["send_total_latency"])
	assert.Equal(t, "0", r["recv_total_latency"])
	return r
}

// show is a record as one line without the fields that change from run to run.
func show(r record) string {
	c := record{}
	for k, v := range r {
		switch k {
		case "__time__", "total_latency_ns", "p50_latency_ns", "p90_latency_ns", "p99_latency_ns":
		default:
			c[k] = v
		}
	}
	js, _ := json.Marshal(c)
	return string(js)
}
