package abi

// Counters is a snapshot of what the capture layer has seen since it was opened.
type Counters struct {
	Polls, PollErrors, Batches uint64
	// Wakeups counts the poller's sleeps that a ring passing its fill watermark cut short (the
	// wakeup extension).
	Wakeups           uint64
	Ctrl, Data, Stats uint64
	// Proc counts process events (the optional process extension).
	Proc        uint64
	LostNotices uint64
	// Lost is the events the library reported lost, per CallbackType (ProcessEvents included).
	Lost         [4]uint64
	PayloadBytes uint64
	// Oversized counts data events that claimed more than MaxPayload bytes (clamped).
	Oversized uint64
	// BatchDrops counts events lost because the C batch could not grow (out of memory).
	BatchDrops uint64
}
