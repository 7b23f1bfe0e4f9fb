package abi

// Visitor receives the events of one poll, in the order the library produced them. Pointers and
// payloads are valid until the visitor returns, or until the capture's next poll where it says so.
type Visitor interface {
	Ctrl(*CtrlEvent)
	Data(*DataEvent)
	Stats(*StatsEvent)
	Lost(LostNotice)
}

// BatchEnder is a Visitor told where each poll's events end. drained says the poll emptied every
// ring (it ran fewer callbacks than it could): every event produced before the poll began has
// been visited, or was lost.
type BatchEnder interface {
	Visitor
	EndBatch(drained bool)
}
