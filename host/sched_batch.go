package host

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batch scheduling (--batch-scheduling, on by default): the process that
// runs Python puts all its threads under Linux's SCHED_BATCH policy.
//
// Why: a thread that runs Python is a Go thread in a cgo call, and the Go
// runtime keeps waking its other threads meanwhile: sysmon, which polls
// every 20 µs once it has taken a P back from a long cgo call, and the
// threads it starts to run the network goroutines. Under the default
// policy each wake-up preempts the Python thread when they share a cpu.
// Django pinned to one cpu had 5.9 involuntary switches of its Python
// thread per request. A SCHED_BATCH thread's wake-up does not preempt
// the running thread: it waits for the scheduler tick or for the running
// thread to block. Wake-ups onto an idle cpu are placed as before, so
// the policy changes nothing while cpus are free; when they are all busy
// the Python thread keeps its time slice, and the network work is done
// in one go after it. Measured (docs/bench/budget.md, "Batch
// scheduling"): Django +6 % pinned and +10 % on two shared cpus, Flask
// +15 % pinned.
//
// The cost: where other processes keep the cpus busy, a gowsgi thread
// that wakes waits for a tick (a few ms at most) instead of preempting
// them. --batch-scheduling=false keeps the default policy. The policy is
// inherited across fork and exec: the app's subprocesses and
// multiprocessing workers run under it too.

// useBatchScheduling puts every thread of this process under SCHED_BATCH.
// Threads made later inherit the policy of the thread that makes them
// (clone(2) copies it, and so does pthread_create with its default
// attributes), so it is enough to change every existing thread, repeated
// until a pass finds none left: a thread could be made by one not yet
// changed while the first pass runs.
//
// It changes nothing and returns false when this thread runs under
// another policy than the default (chrt, systemd's CPUSchedulingPolicy=,
// or SCHED_RESET_ON_FORK set): the operator chose that. If a change
// fails, the threads already changed go back, so all keep one policy.
func useBatchScheduling() (bool, error) {
	self, err := schedPolicy(0) // this thread
	if err != nil {
		return false, fmt.Errorf("sched_getscheduler: %w", err)
	}
	if self != unix.SCHED_NORMAL {
		return false, nil
	}
	for pass := 0; pass < 5; pass++ {
		changed, err := switchPolicy(unix.SCHED_NORMAL, unix.SCHED_BATCH)
		if err != nil {
			_, _ = switchPolicy(unix.SCHED_BATCH, unix.SCHED_NORMAL)
			return false, err
		}
		if changed == 0 {
			break
		}
	}
	return true, nil
}

// switchPolicy gives every thread of this process that runs under policy
// from (exactly: a thread with SCHED_RESET_ON_FORK is left alone) policy
// to, a normal, non-real-time one (priority 0; the nice value is kept),
// and returns how many it changed.
func switchPolicy(from, to int) (int, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, fmt.Errorf("list threads: %w", err)
	}
	changed := 0
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		current, err := schedPolicy(tid)
		if errors.Is(err, unix.ESRCH) {
			continue // the thread ended meanwhile
		}
		if err != nil {
			return changed, fmt.Errorf("thread %d: sched_getscheduler: %w", tid, err)
		}
		if current != from {
			continue
		}
		param := struct{ priority int32 }{0} // struct sched_param
		_, _, errno := unix.Syscall(unix.SYS_SCHED_SETSCHEDULER, uintptr(tid), uintptr(to), uintptr(unsafe.Pointer(&param)))
		if errno == unix.ESRCH {
			continue
		}
		if errno != 0 {
			return changed, fmt.Errorf("thread %d: sched_setscheduler: %w", tid, errno)
		}
		changed++
	}
	return changed, nil
}

// schedPolicy is thread tid's scheduling policy (unix.SCHED_*, with
// SCHED_RESET_ON_FORK or'ed in when set); tid 0 is the calling thread.
func schedPolicy(tid int) (int, error) {
	policy, _, errno := unix.Syscall(unix.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(policy), nil
}
