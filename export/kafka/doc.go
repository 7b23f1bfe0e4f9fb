// Package kafka is flusher_kafka: one Kafka message per record, the record as iLogtail's
// flusher_kafka wrote it, through a bounded queue that never blocks the observer and counts
// every record dropped or failed. README.md describes the queue, the failure behaviour, the keys
// and how it is tested.
package kafka
