package observer

import "github.com/netobserver/netobserver/abi"

// Capture is the kernel side as the observer drives it: *libebpf.Library, whichever libebpf.so
// it loaded (ours, Alibaba's, the replay library).
type Capture interface {
	Start() error
	// Stop stops the kernel side; batches already produced stay on Events.
	Stop() error
	// Events delivers batches in the order the kernel side produced them; each is given back
	// with Release.
	Events() <-chan *abi.Batch
	Release(*abi.Batch)
	// PollNow polls once from the caller's goroutine, queueing what came on Events behind what
	// is there; it never waits.
	PollNow()
	Counters() abi.Counters
	// ProcessEvents reports whether the library sends process events (our extension).
	ProcessEvents() bool
	Control
}

// Control is what the observer tells the kernel side: what to capture, and what it learned of
// connections and processes.
type Control interface {
	SetProtocolFilter(abi.ProtocolSet) error
	SetProcessFilter(pid int32) error
	SetSampling(percent int32) error
	SetBufferPages(which abi.CallbackType, pages int32) error
	UpdateConnAddr(id abi.ConnID, addr abi.SockAddr, localPort uint16, drop bool) error
	UpdateConnRole(id abi.ConnID, role abi.Role) error
	DisableProcess(pid uint32) error
	EnableProcess(pid uint32) error
	ConnectionKeys() ([]abi.ConnKey, error)
	DeleteConnections(ids []abi.ConnID) error
}
