package host

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPUTime is the CPU time OS thread tid (of this process) has used,
// read from its per-thread CPU clock; false if the thread is gone. The
// clock id is Linux's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED), which is
// what pthread_getcpuclockid returns.
func threadCPUTime(tid int) (time.Duration, bool) {
	const perThreadSched = 6 // CPUCLOCK_PERTHREAD_MASK | CPUCLOCK_SCHED
	clock := int32(^uint32(tid)<<3 | perThreadSched)
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
