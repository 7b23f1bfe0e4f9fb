// Package mqtt records MQTT 3.1, 3.1.1 and 5 over TCP: one call per request the server answers
// (CONNECT/CONNACK, PUBLISH QoS 1/PUBACK, PUBLISH QoS 2/PUBREC, PUBREL/PUBCOMP,
// SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK, PINGREQ/PINGRESP) and one one-way call per message
// nothing answers (PUBLISH QoS 0, DISCONNECT, and every PUBLISH the server delivers to a
// subscriber). Topics are recorded masked and bounded (see Mask); payloads are never read.
package mqtt
