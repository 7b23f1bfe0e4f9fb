package libebpf

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// AttachUprobeCookie attaches the library's program as an entry probe at the file offset of the
// file at path, for every process that maps it, with an attach cookie the program reads (the Go
// crypto/tls probes: observer/gotls). It returns the link's id for DetachUprobe; ErrNoUprobes
// when the library lacks netobserver_attach_uprobe_cookie.
func (l *Library) AttachUprobeCookie(program, path string, offset, cookie uint64) (int, error) {
	cp, cf := C.CString(program), C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(cf))
	l.call.Lock()
	if l.c == nil {
		l.call.Unlock()
		return -1, errClosed
	}
	if l.c.attach_uprobe_cookie == nil {
		l.call.Unlock()
		return -1, ErrNoUprobes
	}
	rc := C.netobs_attach_uprobe_cookie(l.c, cp, cf, C.uint64_t(offset), C.uint64_t(cookie))
	l.call.Unlock()
	if rc < 0 {
		return -1, fmt.Errorf("libebpf: attaching %s at %s+%#x: %w", program, path, offset, errnoOf(rc))
	}
	return int(rc), nil
}
