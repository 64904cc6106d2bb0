package medcard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeCache is a CardCache that never hits and whose write-throughs and
// raises succeed, fail at once, or hang until their context ends, as a
// test says.
type fakeCache struct {
	mu        sync.Mutex
	mode      string // "ok", "fail" or "hang"
	written   []int64
	forgot    int
	raised    int
	retention time.Duration
}

func (c *fakeCache) Slot(PersonID) CacheSlot                { return CacheSlot{Key: "k", Usable: true} }
func (c *fakeCache) Get(context.Context, *CacheSlot) *Card  { return nil }
func (c *fakeCache) Peek(context.Context, CacheSlot) *Card  { return nil }
func (c *fakeCache) Fill(context.Context, CacheSlot, *Card) {}
func (c *fakeCache) Retention() time.Duration               { return c.retention }
func (c *fakeCache) Raise(ctx context.Context, _ CacheSlot, _ *Card) bool {
	c.mu.Lock()
	c.raised++
	c.mu.Unlock()
	return c.reach(ctx)
}
func (c *fakeCache) Hold(context.Context, CacheSlot, *Card) bool { return true }
func (c *fakeCache) Forget(ctx context.Context, _ CacheSlot) bool {
	c.mu.Lock()
	c.forgot++
	c.mu.Unlock()
	return c.reach(ctx)
}
func (c *fakeCache) Written(ctx context.Context, _ CacheSlot, card *Card) bool {
	c.mu.Lock()
	c.written = append(c.written, card.Version)
	c.mu.Unlock()
	return c.reach(ctx)
}

func (c *fakeCache) reach(ctx context.Context) bool {
	switch c.mode {
	case "ok":
		return true
	case "hang":
		<-ctx.Done()
	}
	return false
}

// fakeFence records fences; err makes them fail.
type fakeFence struct {
	mu     sync.Mutex
	fences int
	lease  time.Duration
	err    error
}

func (f *fakeFence) Fence(ctx context.Context, _ PersonID) error {
	f.mu.Lock()
	f.fences++
	f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	time.Sleep(f.lease)
	return nil
}

func (f *fakeFence) Settled(context.Context, PersonID) {}
func (f *fakeFence) Window() time.Duration             { return 0 }

// TestWriteSettlesCacheBeforeAnswering: a write is answered only once the
// cache confirmed its card or a fence is in force, within the patience
// plus the fence's lease, and with a retryable fault when neither could be
// done.
func TestWriteSettlesCacheBeforeAnswering(t *testing.T) {
	const patience, lease = 20 * time.Millisecond, 15 * time.Millisecond
	for _, tc := range []struct {
		mode       string
		fenceErr   error
		wantFences int
		wantFault  *Fault
		maxTook    time.Duration
	}{
		{mode: "ok", wantFences: 0, maxTook: patience},
		{mode: "fail", wantFences: 1, maxTook: lease + 10*time.Millisecond},
		{mode: "hang", wantFences: 1, maxTook: patience + lease + 10*time.Millisecond},
		{mode: "fail", fenceErr: errors.New("database down"), wantFences: 1, wantFault: &FaultUnavailable},
	} {
		m := newMemStore()
		c, f := &fakeCache{mode: tc.mode}, &fakeFence{lease: lease, err: tc.fenceErr}
		s := NewService(m, m, func() time.Time { return fixedNow }, WithCache(c, f, patience))
		start := time.Now()
		res, err := s.Change(context.Background(), Call{Caller: doctor, MessageID: "m1"}, validRequest(testPerson))
		took := time.Since(start)
		if tc.wantFault != nil {
			wantFault(t, "write with cache "+tc.mode+" and fence failing", err, *tc.wantFault)
			if FaultOf(err).Code != CodeUnavailable {
				t.Errorf("cache %s, fence failing: fault %v is not retryable", tc.mode, FaultOf(err))
			}
			continue
		}
		if err != nil || res.CardVersion != 1 {
			t.Fatalf("cache %s: CreateDrugMedication = %+v, %v", tc.mode, res, err)
		}
		if f.fences != tc.wantFences {
			t.Errorf("cache %s: %d fences raised, want %d", tc.mode, f.fences, tc.wantFences)
		}
		if took > tc.maxTook {
			t.Errorf("cache %s: the write took %v, want at most %v", tc.mode, took, tc.maxTook)
		}
	}
}

// agedStore reports every card it reads as changed age ago.
type agedStore struct {
	*memStore
	age time.Duration
}

func (a agedStore) ReadCard(ctx context.Context, person PersonID) (*Card, error) {
	card, err := a.memStore.ReadCard(ctx, person)
	if card != nil {
		card.ChangedAgo = a.age
	}
	return card, err
}

// TestReadWithoutLeaseFencesOnlyWhenNeeded: a card read from the primary
// without a fill lease, past the settle window, is raised in the cache; if
// the cache cannot be reached, it is fenced, but only if an older version
// can still be cached (it changed within the cache's retention) and no
// fence of this gateway raised after that version covers it already: one
// fence per version, not one per read, during a Redis outage.
func TestReadWithoutLeaseFencesOnlyWhenNeeded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  string        // the cache's
		age   time.Duration // how long ago every card read changed
		steps []string      // "read", "write" (here), "other" (a write on another gateway)
		want  []int         // fences raised after each step
	}{
		{name: "raised", mode: "ok", age: time.Second,
			steps: []string{"read", "read", "write", "read"}, want: []int{0, 0, 0, 0}},
		{name: "cache unreachable", mode: "fail", age: time.Second,
			steps: []string{"read", "read", "read", "other", "read", "read"}, want: []int{1, 1, 1, 1, 2, 2}},
		{name: "cache unreachable, own write fenced", mode: "fail", age: time.Second,
			steps: []string{"read", "write", "read", "read"}, want: []int{1, 2, 2, 2}},
		{name: "cache unreachable, changed before the retention", mode: "fail", age: 2 * time.Minute,
			steps: []string{"read", "read", "other", "read"}, want: []int{0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemStore()
			c, f := &fakeCache{mode: tc.mode, retention: time.Minute}, &fakeFence{}
			s := NewService(agedStore{m, tc.age}, m, func() time.Time { return fixedNow }, WithCache(c, f, time.Second))
			other := NewService(m, m, func() time.Time { return fixedNow })
			mustCreate(t, other, doctor, "m0", validRequest(testPerson))
			for i, step := range tc.steps {
				switch step {
				case "read":
					if _, err := s.GetMedicineCard(context.Background(), Call{Caller: doctor, MessageID: "r"}, CardQuery{PersonID: testPerson}); err != nil {
						t.Fatalf("step %d: GetMedicineCard = %v", i, err)
					}
				case "write":
					mustCreate(t, s, doctor, fmt.Sprintf("m%d", i+1), validRequest(testPerson))
				case "other":
					mustCreate(t, other, doctor, fmt.Sprintf("m%d", i+1), validRequest(testPerson))
				}
				if f.fences != tc.want[i] {
					t.Errorf("after step %d (%s): %d fences raised, want %d", i, step, f.fences, tc.want[i])
				}
			}
			if c.raised == 0 {
				t.Error("no read raised the card in the cache")
			}
		})
	}
}

// TestResendWritesThrough: a gateway died between the commit and the
// write-through; the resend, answered from the stored outcome by another
// gateway, must write the committed card through.
func TestResendWritesThrough(t *testing.T) {
	m := newMemStore()
	died := NewService(m, m, func() time.Time { return fixedNow }) // no cache: its write-through never happened
	mustCreate(t, died, doctor, "m1", validRequest(testPerson))
	c := &fakeCache{mode: "ok"}
	other := NewService(m, m, func() time.Time { return fixedNow }, WithCache(c, &fakeFence{}, time.Second))
	res := mustCreate(t, other, doctor, "m1", validRequest(testPerson))
	if !res.Replayed {
		t.Fatalf("resend = %+v, want the stored answer", res)
	}
	if len(c.written) != 1 || c.written[0] != 1 {
		t.Errorf("the resend wrote through versions %v, want [1]", c.written)
	}
}

// TestResendFromAMovingShardEntersNothing: a resend answered from the
// stored outcome while its shard is frozen for a move must not write the
// card through: the entry it would write is under the old shard map's key,
// where gateways still on that map would be served it after the first
// write at the new place (a stale read the robustness suite's shard-move
// class caught).
func TestResendFromAMovingShardEntersNothing(t *testing.T) {
	m := newMemStore()
	c := &fakeCache{mode: "ok"}
	s := NewService(m, m, func() time.Time { return fixedNow }, WithCache(c, &fakeFence{}, 20*time.Millisecond))
	call := Call{Caller: doctor, MessageID: "m1"}
	if _, err := s.Change(context.Background(), call, validRequest(testPerson)); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.moving = true
	m.mu.Unlock()
	res, err := s.Change(context.Background(), call, validRequest(testPerson))
	if err != nil || res.CardVersion != 1 {
		t.Fatalf("resend during the move = %+v, %v; want the stored answer, version 1", res, err)
	}
	if len(c.written) != 1 || c.forgot != 0 || c.raised != 0 {
		t.Errorf("the resend during the move touched the cache: written %v, forgot %d, raised %d; want only the first write's write-through",
			c.written, c.forgot, c.raised)
	}
}
