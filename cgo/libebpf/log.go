package libebpf

// #include <stdint.h>
import "C"

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// The library's print sink is process-wide (ebpf_setup_print_func takes no context), so its
// messages go to the logger of the most recent Open.
var printLogger atomic.Pointer[slog.Logger]

func setLogger(l *slog.Logger) { printLogger.Store(l) }

// The ABI's levels: 0 warn, 1 info, 2 debug.
func levelOf(level int16) slog.Level {
	switch level {
	case 0:
		return slog.LevelWarn
	case 1:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

//export netobsLog
func netobsLog(level C.int16_t, msg *C.char, n C.int) {
	l := printLogger.Load()
	if l == nil {
		l = slog.Default()
	}
	lvl := levelOf(int16(level))
	if !l.Enabled(context.Background(), lvl) {
		return
	}
	l.Log(context.Background(), lvl, C.GoStringN(msg, n), "from", "libebpf.so")
}
