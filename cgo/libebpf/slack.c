// The process's timer slack, set before the Go runtime starts its threads (they inherit it).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>

// Go's sysmon thread sleeps 20 µs at a time for about a millisecond after every cgo call that
// finds the runtime idle, and the poller makes such calls a few dozen times a second: with the
// kernel's default slack of 50 µs that is ≈ 130 wake-ups a second at 5 000 requests/s, ≈ 25 µs of
// CPU each on a VM (the sysmon thread was 15–20 % of the observer's CPU). A slack of 1 ms lets the
// kernel coalesce them (≈ 50 a second). Every sleep of the process may now end up to 1 ms late;
// its shortest deliberate one, the poller's, is 10 ms. Only in an executable that links this
// package: a host process that loads it as a shared object (iLogtail's plugins) keeps its own.
// NETOBSERVER_TIMER_SLACK=off keeps the default, for comparisons.
__attribute__((constructor)) static void netobs_timer_slack(void)
{
	const char *slack = getenv("NETOBSERVER_TIMER_SLACK");
	Dl_info self, exe;

	if (slack && !strcmp(slack, "off"))
		return;
	if (!dladdr((void *)netobs_timer_slack, &self) || !dladdr((void *)getauxval(AT_ENTRY), &exe) ||
	    self.dli_fbase != exe.dli_fbase)
		return;
	prctl(PR_SET_TIMERSLACK, 1000000UL, 0, 0, 0);
}
