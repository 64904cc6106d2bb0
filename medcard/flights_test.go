package medcard

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFlightsNeverShareAnOlderRead: a reader that arrives while a read is
// under way must not get that read's result (it may predate a write
// acknowledged before the reader arrived); readers arriving together
// share one read.
func TestFlightsNeverShareAnOlderRead(t *testing.T) {
	var g flights
	var reads atomic.Int64
	release := make(chan struct{})
	read := func() (*Card, error) {
		n := reads.Add(1)
		if n == 1 {
			<-release // the first read is slow: it read version 1 before the write
		}
		return &Card{Version: n}, nil
	}

	first := make(chan *Card)
	go func() {
		c, leader, err := g.do(context.Background(), testPerson, read)
		if err != nil || !leader {
			t.Errorf("first reader: leader %v, err %v", leader, err)
		}
		first <- c
	}()
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}

	// Version 2 is acknowledged now; these readers arrive after it.
	const late = 8
	var wg sync.WaitGroup
	got := make([]int64, late)
	for i := range late {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := g.do(context.Background(), testPerson, read)
			if err != nil {
				t.Errorf("late reader: %v", err)
				return
			}
			got[i] = c.Version
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them all arrive and wait
	close(release)
	if c := <-first; c.Version != 1 {
		t.Errorf("first reader got version %d, want 1", c.Version)
	}
	wg.Wait()
	for i, v := range got {
		if v < 2 {
			t.Errorf("late reader %d got version %d from a read that started before it arrived, want >= 2", i, v)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("%d database reads for one slow read and %d late readers, want 2", n, late)
	}
}

func TestFlightsWaiterGivesUpWithItsContext(t *testing.T) {
	var g flights
	release := make(chan struct{})
	defer close(release)
	go g.do(context.Background(), testPerson, func() (*Card, error) { <-release; return &Card{}, nil })
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := g.do(ctx, testPerson, func() (*Card, error) { return &Card{}, nil }); FaultOf(err) != FaultUnavailable {
		t.Errorf("waiter past its deadline: %v, want %s", err, FaultUnavailable.ID)
	}
}
