package observer

import (
	"time"

	"github.com/netobserver/netobserver/abi"
)

// Capture is the kernel side as the observer drives it: *libebpf.Library, whichever libebpf.so
// it loaded (ours, Alibaba's, the replay library).
type Capture interface {
	Start() error
	// Poll hands the events of one poll to v, in the order the kernel side produced them, and
	// the poll's end when v is an abi.BatchEnder.
	Poll(v abi.Visitor) (events int, drained bool, err error)
	// Wait sleeps until the next poll is worth making, at most limit.
	Wait(limit time.Duration)
	// Stop stops the kernel side, handing v (as Poll does) what its buffers still hold.
	Stop(v abi.Visitor) error
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
