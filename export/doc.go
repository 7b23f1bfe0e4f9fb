// Package export holds what every output of a pipeline has in common: the configuration a
// flusher type decodes (Config) builds the flusher (Output) in the environment the binary lends
// it (Env). Each flusher is a package below this one; export/flushers lists them.
package export
