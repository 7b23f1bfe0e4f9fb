package amqp

// Classes.
const (
	classConnection = 10
	classChannel    = 20
	classExchange   = 40
	classQueue      = 50
	classBasic      = 60
	classConfirm    = 85
	classTx         = 90
)

// cm is a class id and method id, as one number.
func cm(class, method uint16) uint32 { return uint32(class)<<16 | uint32(method) }

// Methods this package treats apart.
var (
	connectionStartOK = cm(classConnection, 11)
	connectionTuneOK  = cm(classConnection, 31)
	connectionClose   = cm(classConnection, 50)
	channelClose      = cm(classChannel, 40)
	basicPublish      = cm(classBasic, 40)
	basicReturn       = cm(classBasic, 50)
	basicDeliver      = cm(classBasic, 60)
	basicGet          = cm(classBasic, 70)
	basicGetOK        = cm(classBasic, 71)
	basicGetEmpty     = cm(classBasic, 72)
)

// Who sends a method.
const (
	client = 1 << iota
	server
)

// role is what a method is in a call.
type role uint8

const (
	request role = iota // synchronous: a reply answers it
	reply               // the answer to a synchronous method
	oneWay              // nothing answers it
	ignored             // the connection handshake and the answers to the server's requests
)

// method describes one method of the protocol.
type method struct {
	name string
	from uint8 // client, server or both
	role role
	// answer is the reply of a request (basic.get's other reply, get-empty, is checked apart).
	answer uint32
	// args say where the names are: a list of fields before them to skip, then the names.
	args args
}

// args is the layout of the arguments this package reads: the exchange, the key (a routing key
// or a queue) and the no-wait flag.
type args uint8

const (
	argsNone args = iota
	// short reserved, shortstr queue, …, bits with no-wait at bit nowaitBit
	argsQueue
	// short reserved, shortstr queue, shortstr exchange, shortstr routing key, bit no-wait
	argsQueueBind
	// short reserved, shortstr exchange, …
	argsExchange
	// short reserved, shortstr destination, shortstr source, shortstr routing key, bit no-wait
	argsExchangeBind
	// short reserved, shortstr exchange, shortstr routing key (basic.publish)
	argsPublish
	// short reply code, shortstr text, shortstr exchange, shortstr routing key (basic.return)
	argsReturn
	// shortstr consumer tag, longlong tag, bit, shortstr exchange, shortstr routing key
	argsDeliver
	// longlong tag, bit, shortstr exchange, shortstr routing key (basic.get-ok)
	argsGetOK
	// short reserved, shortstr queue, shortstr consumer tag, bits (basic.consume)
	argsConsume
	// short reply code (channel.close, connection.close)
	argsClose
	// shortstr consumer tag, bit no-wait (basic.cancel)
	argsCancel
	// bit no-wait (confirm.select)
	argsNowait
	// short channel max, long frame max (connection.tune-ok)
	argsTune
)

// methods are the methods of AMQP 0-9-1, by class and method id.
var methods = map[uint32]method{
	cm(10, 10): {"connection.start", server, ignored, 0, argsNone},
	cm(10, 11): {"connection.start-ok", client, ignored, 0, argsNone},
	cm(10, 20): {"connection.secure", server, ignored, 0, argsNone},
	cm(10, 21): {"connection.secure-ok", client, ignored, 0, argsNone},
	cm(10, 30): {"connection.tune", server, ignored, 0, argsNone},
	cm(10, 31): {"connection.tune-ok", client, ignored, 0, argsTune},
	cm(10, 40): {"connection.open", client, request, cm(10, 41), argsNone},
	cm(10, 41): {"connection.open-ok", server, reply, 0, argsNone},
	cm(10, 50): {"connection.close", client | server, request, cm(10, 51), argsClose},
	cm(10, 51): {"connection.close-ok", client | server, reply, 0, argsNone},
	cm(10, 60): {"connection.blocked", server, oneWay, 0, argsNone},
	cm(10, 61): {"connection.unblocked", server, oneWay, 0, argsNone},
	cm(10, 70): {"connection.update-secret", client, request, cm(10, 71), argsNone},
	cm(10, 71): {"connection.update-secret-ok", server, reply, 0, argsNone},

	cm(20, 10): {"channel.open", client, request, cm(20, 11), argsNone},
	cm(20, 11): {"channel.open-ok", server, reply, 0, argsNone},
	cm(20, 20): {"channel.flow", client | server, request, cm(20, 21), argsNone},
	cm(20, 21): {"channel.flow-ok", client | server, reply, 0, argsNone},
	cm(20, 40): {"channel.close", client | server, request, cm(20, 41), argsClose},
	cm(20, 41): {"channel.close-ok", client | server, reply, 0, argsNone},

	cm(40, 10): {"exchange.declare", client, request, cm(40, 11), argsExchange},
	cm(40, 11): {"exchange.declare-ok", server, reply, 0, argsNone},
	cm(40, 20): {"exchange.delete", client, request, cm(40, 21), argsExchange},
	cm(40, 21): {"exchange.delete-ok", server, reply, 0, argsNone},
	cm(40, 30): {"exchange.bind", client, request, cm(40, 31), argsExchangeBind},
	cm(40, 31): {"exchange.bind-ok", server, reply, 0, argsNone},
	cm(40, 40): {"exchange.unbind", client, request, cm(40, 51), argsExchangeBind},
	cm(40, 51): {"exchange.unbind-ok", server, reply, 0, argsNone},

	cm(50, 10): {"queue.declare", client, request, cm(50, 11), argsQueue},
	cm(50, 11): {"queue.declare-ok", server, reply, 0, argsNone},
	cm(50, 20): {"queue.bind", client, request, cm(50, 21), argsQueueBind},
	cm(50, 21): {"queue.bind-ok", server, reply, 0, argsNone},
	cm(50, 30): {"queue.purge", client, request, cm(50, 31), argsQueue},
	cm(50, 31): {"queue.purge-ok", server, reply, 0, argsNone},
	cm(50, 40): {"queue.delete", client, request, cm(50, 41), argsQueue},
	cm(50, 41): {"queue.delete-ok", server, reply, 0, argsNone},
	cm(50, 50): {"queue.unbind", client, request, cm(50, 51), argsQueueBind},
	cm(50, 51): {"queue.unbind-ok", server, reply, 0, argsNone},

	cm(60, 10):  {"basic.qos", client, request, cm(60, 11), argsNone},
	cm(60, 11):  {"basic.qos-ok", server, reply, 0, argsNone},
	cm(60, 20):  {"basic.consume", client, request, cm(60, 21), argsConsume},
	cm(60, 21):  {"basic.consume-ok", server, reply, 0, argsNone},
	cm(60, 30):  {"basic.cancel", client | server, request, cm(60, 31), argsCancel},
	cm(60, 31):  {"basic.cancel-ok", client | server, reply, 0, argsNone},
	cm(60, 40):  {"basic.publish", client, oneWay, 0, argsPublish},
	cm(60, 50):  {"basic.return", server, oneWay, 0, argsReturn},
	cm(60, 60):  {"basic.deliver", server, oneWay, 0, argsDeliver},
	cm(60, 70):  {"basic.get", client, request, cm(60, 71), argsQueue},
	cm(60, 71):  {"basic.get-ok", server, reply, 0, argsGetOK},
	cm(60, 72):  {"basic.get-empty", server, reply, 0, argsNone},
	cm(60, 80):  {"basic.ack", client | server, oneWay, 0, argsNone},
	cm(60, 90):  {"basic.reject", client, oneWay, 0, argsNone},
	cm(60, 100): {"basic.recover-async", client, oneWay, 0, argsNone},
	cm(60, 110): {"basic.recover", client, request, cm(60, 111), argsNone},
	cm(60, 111): {"basic.recover-ok", server, reply, 0, argsNone},
	cm(60, 120): {"basic.nack", client | server, oneWay, 0, argsNone},

	cm(85, 10): {"confirm.select", client, request, cm(85, 11), argsNowait},
	cm(85, 11): {"confirm.select-ok", server, reply, 0, argsNone},

	cm(90, 10): {"tx.select", client, request, cm(90, 11), argsNone},
	cm(90, 11): {"tx.select-ok", server, reply, 0, argsNone},
	cm(90, 20): {"tx.commit", client, request, cm(90, 21), argsNone},
	cm(90, 21): {"tx.commit-ok", server, reply, 0, argsNone},
	cm(90, 30): {"tx.rollback", client, request, cm(90, 31), argsNone},
	cm(90, 31): {"tx.rollback-ok", server, reply, 0, argsNone},
}

// nowaitBit is the bit of a method's flags octet that says no-wait, -1 for none.
func nowaitBit(m uint32) int {
	switch m {
	case cm(50, 10), cm(40, 10): // queue.declare, exchange.declare
		return 4
	case cm(60, 20): // basic.consume
		return 3
	case cm(50, 40): // queue.delete
		return 2
	case cm(40, 20): // exchange.delete
		return 1
	case cm(50, 20), cm(50, 30), cm(40, 30), cm(40, 40), cm(60, 30), cm(85, 10):
		return 0
	}
	return -1
}
