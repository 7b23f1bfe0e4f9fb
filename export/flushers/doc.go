// Package flushers is the registry of flusher types: importing it makes each one known to
// pipeline files (config.Load), in the order messages list them. A new flusher is its package
// and one line here.
package flushers
