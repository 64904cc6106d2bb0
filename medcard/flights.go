package medcard

import (
	"context"
	"sync"
)

// flights collapses concurrent database reads of one person's card, like
// singleflight, with one difference that read-your-writes needs: a reader
// never shares a read that was already under way when it arrived, since
// that read may predate a write acknowledged just before the reader
// arrived (on this gateway or another). Such readers wait for it to end
// and share the one read that follows it. A miss storm on a card thus
// costs at most two database reads per gateway, whatever its size.
type flights struct {
	mu    sync.Mutex
	byKey map[PersonID]*flight // the read under way per person
}

type flight struct {
	done     chan struct{}
	started  bool
	finished bool
	card     *Card
	err      error
	// next is the read that readers who arrived during this one share.
	next *flight
}

// do returns the result of read, run by this reader or by a read that
// started after it arrived; leader reports whether this reader ran it.
func (g *flights) do(ctx context.Context, person PersonID, read func() (*Card, error)) (card *Card, leader bool, err error) {
	g.mu.Lock()
	if g.byKey == nil {
		g.byKey = map[PersonID]*flight{}
	}
	f := g.byKey[person]
	if f == nil || f.finished {
		f = &flight{done: make(chan struct{}), started: true}
		g.byKey[person] = f
		g.mu.Unlock()
		return g.run(person, f, read)
	}
	if f.next == nil {
		f.next = &flight{done: make(chan struct{})}
	}
	next := f.next
	g.mu.Unlock()

	if err := wait(ctx, f.done); err != nil {
		return nil, false, err
	}
	g.mu.Lock()
	if !next.started { // the first of its readers to wake runs it
		next.started = true
		g.byKey[person] = next
		g.mu.Unlock()
		return g.run(person, next, read)
	}
	g.mu.Unlock()
	if err := wait(ctx, next.done); err != nil {
		return nil, false, err
	}
	return next.card, false, next.err
}

func (g *flights) run(person PersonID, f *flight, read func() (*Card, error)) (*Card, bool, error) {
	f.card, f.err = read()
	g.mu.Lock()
	f.finished = true
	if g.byKey[person] == f {
		delete(g.byKey, person)
	}
	g.mu.Unlock()
	close(f.done)
	return f.card, true, f.err
}

func wait(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return WrapError(FaultUnavailable, ctx.Err(), "the card could not be read in time")
	}
}
