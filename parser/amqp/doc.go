// Package amqp records AMQP 0-9-1 (RabbitMQ) over TCP, one method frame at a time: a synchronous
// method (queue.declare, basic.get, channel.open, …) is a call answered by its -ok on the same
// channel (or by a channel.close or connection.close the server sends instead, carrying the
// error's reply code); basic.publish, basic.deliver, basic.return, basic.ack/nack/reject and
// methods sent with no-wait are one-way calls. The content header of a publish or delivery gives
// its body size, which counts in the message's size; content bodies are never read. Exchange,
// routing key and queue names are masked and bounded (parser/keymask).
package amqp
