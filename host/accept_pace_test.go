package host

import (
	"testing"
	"time"
)

// timedAccepts runs accepted(open) n times back to back and returns how
// long they took.
func timedAccepts(p *acceptPacer, open, n int) time.Duration {
	start := time.Now()
	for range n {
		p.accepted(open)
	}
	return time.Since(start)
}

func TestAcceptPacerPausesABurstOfAWorkerWithManyConnections(t *testing.T) {
	defer func(gap time.Duration) { paceGap = gap }(paceGap)
	paceGap = 20 * time.Millisecond
	p := &acceptPacer{above: 4}
	// The first accept of a burst is never paced, the next two are.
	if took := timedAccepts(p, 5, 3); took < 2*paceGap {
		t.Errorf("3 accepts in a burst with 5 open connections took %v, want at least 2 pauses of %v", took, paceGap)
	}
}

func TestAcceptPacerLeavesOtherAcceptsAlone(t *testing.T) {
	defer func(gap time.Duration) { paceGap = gap }(paceGap)
	paceGap = time.Hour // a wrong pause hangs: the checks below bound it
	for _, c := range []struct {
		name        string
		above, open int
	}{
		{"a lone worker (no pacing)", 0, 100},
		{"as many open connections as threads", 4, 4},
		{"fewer", 4, 1},
	} {
		done := make(chan time.Duration, 1)
		go func() { done <- timedAccepts(&acceptPacer{above: c.above}, c.open, 10) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: paced", c.name)
		}
	}
	// Accepts further apart than paceBurst are not a burst.
	defer func(b time.Duration) { paceBurst = b }(paceBurst)
	paceBurst = time.Nanosecond
	done := make(chan time.Duration, 1)
	go func() { done <- timedAccepts(&acceptPacer{above: 1}, 50, 10) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("accepts apart from each other were paced")
	}
}
