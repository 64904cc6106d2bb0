package shard

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCoalescedLoadsStartAfterTheCaller checks the two promises of
// coalescedLoads: every caller gets a load that began after it called, and
// callers that arrive during a load share one load after it.
func TestCoalescedLoadsStartAfterTheCaller(t *testing.T) {
	var started atomic.Int64 // loads begun
	release := make(chan struct{})
	var c coalescedLoads
	c.load = func(ctx context.Context) error {
		started.Add(1)
		<-release
		return nil
	}
	ctx := t.Context()

	first := make(chan error)
	go func() { first <- c.do(ctx) }()
	waitFor(t, func() bool { return started.Load() == 1 })

	// Ten callers arrive while the first load runs: none may be answered by
	// it, and all share the second.
	var wg sync.WaitGroup
	var answered atomic.Int64
	for range 10 {
		wg.Go(func() {
			if err := c.do(ctx); err != nil {
				t.Errorf("do: %v", err)
			}
			answered.Add(1)
		})
	}
	time.Sleep(50 * time.Millisecond) // let them join
	release <- struct{}{}             // the first load ends
	if err := <-first; err != nil {
		t.Fatalf("first do: %v", err)
	}
	waitFor(t, func() bool { return started.Load() == 2 })
	if n := answered.Load(); n != 0 {
		t.Fatalf("%d callers that arrived during the first load were answered by it", n)
	}
	release <- struct{}{} // the second load ends
	wg.Wait()
	if n := started.Load(); n != 2 {
		t.Errorf("%d loads for 11 callers in two waves, want 2", n)
	}

	// A caller whose context ends stops waiting; the load goes on for others.
	cancelled, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- c.do(cancelled) }()
	waitFor(t, func() bool { return started.Load() == 3 })
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("do with a cancelled context = %v, want context.Canceled", err)
	}
	release <- struct{}{}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
