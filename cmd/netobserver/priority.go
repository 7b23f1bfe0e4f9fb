package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// defaultNice is the observer's scheduling priority unless --nice says otherwise. The kernel side
// writes into rings of a fixed size whatever the observer does; when the host's CPUs are busy the
// scheduler gives each runnable thread its share, and a load of a few dozen threads left the
// observer ≈ 5 % of a CPU for seconds at a time, less than it needs to keep up (100 000
// connections opening at once: the rings full for 1–3 s at a time, up to 296 694 events lost, in 6
// of 7 runs; none in 4 of 4 at -10, README's Performance). At -10 its threads weigh 9.3 times a default thread (the kernel's nice-to-weight table):
// it runs first when it has work, and takes no more CPU than that work, so the host loses nothing
// it would not have spent anyway. auditd boosts itself for the same reason (priority_boost).
const defaultNice = -10

// setNice puts every thread of this process at nice; threads created later inherit it from the
// thread that creates them. Passes repeat until one finds no thread it had not already set: a
// thread the Go runtime starts meanwhile may be the child of one not yet set.
func setNice(nice int) error {
	done := map[int]bool{}
	for range 100 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
			done[tid], fresh = true, true
		}
		if !fresh {
			return nil
		}
	}
	return fmt.Errorf("threads still appearing after 100 passes")
}
