// Command netobserver observes the network calls of the processes on a host through libebpf.so
// and writes the records iLogtail's observer_ilogtail_network_v1 wrote.
//
//	netobserver --config FILE [flags]      run an iLogtail pipeline file
//	netobserver --check-config FILE        validate one
//	netobserver record [-o FILE] [flags]   write the raw events the library captures, in the trace format
//	netobserver version [--libebpf PATH]   print this binary's version and the library's
//
// With --source replay:FILE the events come from a recording (written by record) through
// libebpf-replay.so, and the output says so.
package main
