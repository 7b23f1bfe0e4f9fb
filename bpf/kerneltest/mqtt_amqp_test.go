package kerneltest

import (
	"fmt"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkDetected checks that every data event of the client's connection to the broker carries
// proto, that the client's first write is a request and the broker's first a response, and that
// the connection's role is the client's.
func checkDetected(t *testing.T, c *capture, pid int, proto abi.Protocol, minEvents int) {
	t.Helper()
	evs := c.waitFor(t, pid, "the client's close", func(e []event) bool { return closedConns(e) >= 1 })
	var cv *conversation
	for _, x := range conversations(evs) {
		if len(x.egress) > 0 && len(x.ingress) > 0 {
			cv = x
		}
	}
	require.NotNil(t, cv, describe(evs))
	require.GreaterOrEqual(t, len(cv.egress)+len(cv.ingress), minEvents, describe(evs))
	for _, d := range append(cv.egress, cv.ingress...) {
		assert.Equal(t, proto, d.Protocol, "%q", d.Payload)
		assert.Equal(t, abi.RoleClient, d.Role)
	}
	assert.Equal(t, abi.TypeRequest, cv.egress[0].Type)
	assert.Equal(t, abi.TypeResponse, cv.ingress[0].Type)
}

// TestMosquittoDetected: mosquitto_pub's CONNECT (3.1.1 and 5) and mosquitto's CONNACK make the
// connection MQTT on both sides, through our libebpf.so.
func TestMosquittoDetected(t *testing.T) {
	n := testenv.NewNet(t, 214)
	testenv.Mosquitto(t, n.Server, n.ServerV4)
	c := startCapture(t, nil)
	for _, v := range []string{"mqttv311", "5"} {
		t.Run(v, func(t *testing.T) {
			pub := testenv.Command(n.Client, "mosquitto_pub", "-h", n.ServerV4.String(), "-V", v, "-q", "1",
				"-t", "sensors/1/temp", "-m", "21", "--repeat", "5")
			out, err := pub.CombinedOutput()
			require.NoError(t, err, "%s", out)
			// CONNECT, 5 PUBLISH, DISCONNECT written; CONNACK, 5 PUBACK read.
			checkDetected(t, c, pub.Process.Pid, abi.ProtoMQTT, 2)
		})
	}
}

// TestRabbitMQDetected: amqp-publish's protocol header and RabbitMQ's connection.start make the
// connection AMQP.
func TestRabbitMQDetected(t *testing.T) {
	n := testenv.NewNet(t, 215)
	r := testenv.StartRabbitMQ(t, n.Server, n.ServerV4)
	c := startCapture(t, nil)
	pub := testenv.Command(n.Client, "amqp-publish", "--server", n.ServerV4.String(), "--port", fmt.Sprint(r.Addr.Port()),
		"-r", "orders.1", "-b", "x")
	out, err := pub.CombinedOutput()
	require.NoError(t, err, "%s", out)
	checkDetected(t, c, pub.Process.Pid, abi.ProtoAMQP, 4)
}
