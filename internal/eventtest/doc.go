// Package eventtest keeps what a capture library delivers, for the tests of the cgo layer and of
// the kernel side: every event, copied out of its batch (Events), and every message the library
// logs (Log).
package eventtest
