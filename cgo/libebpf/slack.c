// The process's timer slack, set before the Go runtime starts its threads (they inherit it).
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

// Go's sysmon thread sleeps 20 µs at a time for about a millisecond after every cgo call that
// finds the runtime idle, and the poller makes such calls a few dozen times a second: with the
// kernel's default slack of 50 µs that is ≈ 130 wake-ups a second at 5 000 requests/s, ≈ 25 µs of
// CPU each on a VM (the sysmon thread was 15–20 % of the observer's CPU). A slack of 1 ms lets the
// kernel coalesce them (≈ 50 a second). Every sleep of the process may now end up to 1 ms late;
// its shortest deliberate one, the poller's, is 10 ms. NETOBSERVER_TIMER_SLACK=off keeps the
// default, for comparisons.
__attribute__((constructor)) static void netobs_timer_slack(void)
{
	const char *slack = getenv("NETOBSERVER_TIMER_SLACK");

	if (slack && !strcmp(slack, "off"))
		return;
	prctl(PR_SET_TIMERSLACK, 1000000UL, 0, 0, 0);
}
