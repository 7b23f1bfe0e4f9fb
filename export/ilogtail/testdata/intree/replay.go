// Package netobservertest checks the netobserver plugin inside an iLogtail source tree, after
// iLogtail's builder imported it: export/ilogtail/plugin-ilogtail.sh copies this directory there
// as test/netobserver. This file only reads the replay library's progress.
package netobservertest

// #cgo LDFLAGS: -ldl
// #include <dlfcn.h>
// #include <stdlib.h>
//
// // -1: the library is not loaded (yet); else netobserver_replay_finished().
// static int replay_finished(const char *path) {
// 	void *h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
// 	if (!h)
// 		return -1;
// 	int (*finished)(void) = (int (*)(void))dlsym(h, "netobserver_replay_finished");
// 	int rc = finished ? finished() : -1;
// 	dlclose(h);
// 	return rc;
// }
import "C"

import "unsafe"

// replayFinished says whether the replay library at path, as the plugin loaded it, has delivered
// its whole trace; false while it is not loaded.
func replayFinished(path string) bool {
	p := C.CString(path)
	defer C.free(unsafe.Pointer(p))
	return C.replay_finished(p) == 1
}
