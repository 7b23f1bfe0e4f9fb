package flushers

import (
	"github.com/netobserver/netobserver/export/jsonl"
	"github.com/netobserver/netobserver/export/kafka"
	"github.com/netobserver/netobserver/export/otlp"
	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/export/stdout"
	"github.com/netobserver/netobserver/observer/config"
)

func init() {
	config.RegisterFlushers(
		stdout.Type,
		kafka.Type,
		jsonl.Type,
		prometheus.Type,
		kafka.TypeV2,
		otlp.Type,
	)
}
