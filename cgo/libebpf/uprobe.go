package libebpf

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// ErrNoUprobes is returned by AttachUprobe and DetachUprobe when the library lacks netobserver's
// uprobe extension (netobserver_attach_uprobe): Alibaba's library, the replay library.
var ErrNoUprobes = errors.New("libebpf: the library has no uprobe extension (netobserver_attach_uprobe); TLS plaintext cannot be captured with it")

// Uprobes reports whether the library has the uprobe extension.
func (l *Library) Uprobes() bool {
	l.call.Lock()
	defer l.call.Unlock()
	return l.c != nil && C.netobs_has_uprobes(l.c) != 0
}

// AttachUprobe attaches the library's program (a base name such as "tls_openssl_read_ret"; the
// library picks the build of its transport) as an entry probe, or a return probe if ret, at the
// file offset of the file at path, for every process that maps it. It returns the link's id for
// DetachUprobe. The links end with Stop.
func (l *Library) AttachUprobe(program, path string, offset uint64, ret bool) (int, error) {
	cp, cf := C.CString(program), C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(cf))
	r := C.int32_t(0)
	if ret {
		r = 1
	}
	l.call.Lock()
	if l.c == nil {
		l.call.Unlock()
		return -1, errClosed
	}
	if C.netobs_has_uprobes(l.c) == 0 {
		l.call.Unlock()
		return -1, ErrNoUprobes
	}
	rc := C.netobs_attach_uprobe(l.c, cp, cf, C.uint64_t(offset), r)
	l.call.Unlock()
	if rc < 0 {
		return -1, fmt.Errorf("libebpf: attaching %s at %s+%#x: %w", program, path, offset, errnoOf(rc))
	}
	return int(rc), nil
}

// DetachUprobe removes a link AttachUprobe made.
func (l *Library) DetachUprobe(id int) error {
	l.call.Lock()
	defer l.call.Unlock()
	if l.c == nil {
		return errClosed
	}
	if C.netobs_has_uprobes(l.c) == 0 {
		return ErrNoUprobes
	}
	if rc := C.netobs_detach_uprobe(l.c, C.int32_t(id)); rc < 0 {
		return fmt.Errorf("libebpf: detaching uprobe %d: %w", id, errnoOf(rc))
	}
	return nil
}

// TLSUnattributed is the number of TLS library calls whose plaintext was lost because the kernel
// side could not tell their connection (0 without the extension).
func (l *Library) TLSUnattributed() uint64 {
	l.call.Lock()
	defer l.call.Unlock()
	if l.c == nil {
		return 0
	}
	return uint64(C.netobs_tls_unattributed(l.c))
}
