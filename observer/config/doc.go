// Package config reads iLogtail pipeline files written for observer_ilogtail_network_v1 (YAML,
// its JSON form, and iLogtail's converted {"type", "detail"} form) into typed values with
// iLogtail's real defaults. It owns the input's keys: type, default, range, and the exact error
// or warning a bad or unknown key gives; each flusher's keys belong to the flusher's package,
// which reads them through Value (FlusherType, registered by export/flushers). ERRORS.md lists
// every error; README.md says how values are typed and where netobserver differs from iLogtail.
package config
