module github.com/netobserver/netobserver

go 1.24.0

require github.com/stretchr/testify v1.12.1

require (
	github.com/json-iterator/go v1.1.12
	golang.org/x/sys v0.41.0
)

require (
	github.com/modern-go/concurrent v0.0.0-20180228061459-e0a39a4cb421 // indirect
	github.com/modern-go/reflect2 v1.0.2 // indirect
)

require (
	github.com/klauspost/compress v1.18.4 // indirect
	github.com/pierrec/lz4/v4 v4.1.25 // indirect
	github.com/twmb/franz-go v1.20.7
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20251021232020-dd73f6664175
	github.com/twmb/franz-go/pkg/kmsg v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5
	golang.org/x/crypto v0.48.0
)
