package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sharedmedcard/gateway/shard/move"
)

// moveReporter shows a run of moves as it goes: a bar over the moves with
// the byte rate and an ETA, and a line per move that finishes, fails or
// stops. Its event method is the mover's progress callback, called from
// the moves' goroutines.
type moveReporter struct {
	ctx     context.Context // for reading a finished move's figures
	c       *move.Cluster
	bar     *termBar
	show    bool // false under --json: no bar, no lines
	label   string
	started time.Time

	mu      sync.Mutex
	copied  int64           // bytes of the moves past their copy
	copying map[int64]int64 // bytes copied so far, per move under copy
	past    map[int64]bool  // moves past their copy
}

func newMoveReporter(ctx context.Context, c *move.Cluster, todo []*move.Move, planID int64, show bool) *moveReporter {
	label := "moves"
	if planID > 0 {
		label = fmt.Sprintf("plan %d", planID)
	}
	return &moveReporter{ctx: ctx, c: c, show: show, label: label, started: time.Now(),
		bar:     newTermBar(show, int64(len(todo)), label, "shards"),
		copying: map[int64]int64{}, past: map[int64]bool{}}
}

// event takes one report of the mover. e.Move is the mover's own: it is
// read here and not kept.
func (r *moveReporter) event(e move.Event) {
	if !r.show {
		return
	}
	m := e.Move
	id, shardNo, from, to := m.ID, m.Shard, m.Source, m.Target
	switch {
	case e.Err != nil && errors.Is(e.Err, context.Canceled):
		r.bar.println("stopped   move %-5d shard %4d  %s→%s  at %s", id, shardNo, from, to, e.State)
	case e.Err != nil:
		r.bar.println("failed    move %-5d shard %4d  %s→%s  at %s: %v", id, shardNo, from, to, e.State, e.Err)
	case e.State == move.Copy:
		// Rows copied so far, sized by the move's average card (Copied
		// counts the rows of every table, RowsTotal only the cards).
		if m.RowsTotal > 0 {
			r.copiedSoFar(id, min(e.Copied, m.RowsTotal)*m.BytesTotal/m.RowsTotal)
		}
	case e.State == move.Done:
		// The mover's Move is not updated with the figures the journal
		// got; read them back.
		f, err := r.c.GetMove(r.ctx, id)
		if err != nil {
			r.bar.println("done      move %-5d shard %4d  %s→%s  (figures unreadable: %v)", id, shardNo, from, to, err)
			r.bar.add(1)
			return
		}
		r.pastCopy(id, f.BytesTotal)
		r.bar.println("done      move %-5d shard %4d  %s→%s  %6d rows  copy %6.2f s  freeze %6.1f ms", id, shardNo, from, to,
			f.RowsCopied, value(f.CopySeconds), value(f.FreezeMs))
		r.bar.add(1)
	case e.State == move.Cancelled:
		r.bar.println("cancelled move %-5d shard %4d  %s→%s", id, shardNo, from, to)
		r.bar.add(1)
	case e.State != move.Pending && e.State != move.Prepare:
		// Past the copy: count its bytes once.
		r.pastCopy(id, m.BytesTotal)
	}
}

func (r *moveReporter) copiedSoFar(id, bytes int64) {
	r.mu.Lock()
	if !r.past[id] {
		r.copying[id] = bytes
	}
	r.mu.Unlock()
	r.describe()
}

func (r *moveReporter) pastCopy(id, bytes int64) {
	r.mu.Lock()
	if !r.past[id] {
		r.past[id] = true
		delete(r.copying, id)
		r.copied += bytes
	}
	r.mu.Unlock()
	r.describe()
}

// describe puts the bytes copied and their rate before the bar.
func (r *moveReporter) describe() {
	r.mu.Lock()
	bytes := r.copied
	for _, b := range r.copying {
		bytes += b
	}
	r.mu.Unlock()
	rate := float64(bytes) / max(time.Since(r.started).Seconds(), 0.001)
	r.bar.describe(fmt.Sprintf("%s %s %s/s", r.label, humanBytes(bytes), humanBytes(int64(rate))))
}

func (r *moveReporter) finish(err error) { r.bar.finish(err) }

func value(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
