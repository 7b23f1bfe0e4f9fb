package calls

import (
	"fmt"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A connection that closes with half a request after a call: the call is recorded, and the bytes
// of the request that never completed count as abandoned.
func TestIncompleteMessageAtCloseIsCounted(t *testing.T) {
	part := "GET /b HTTP/1.1\r\nHo"
	trace := fmt.Sprintf(`ctrl ts=1000 %[1]s event=connect addr=10.0.0.2:80
data ts=2000 %[1]s dir=egress proto=http "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
data ts=3000 %[1]s dir=ingress proto=http "HTTP/1.1 204 No Content\r\n\r\n"
data ts=3500 %[1]s dir=egress proto=http %[2]s
ctrl ts=4000 %[1]s event=close
`, client, quote(part))
	for _, maxEvents := range []int{1, 1024} {
		h := run(t, trace, maxEvents)
		require.Len(t, h.calls, 1)
		cnt := h.Counters(abi.ProtoHTTP)
		assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses, "%+v", cnt)
		assert.EqualValues(t, len(part), cnt.AbandonedBytes, "%+v", cnt)
		assert.Zero(t, h.Connections())
	}
}
