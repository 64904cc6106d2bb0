package medcard_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sharedmedcard/gateway/cache"
	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
)

// TestReadNeverGoesBackWhileWriterPaused replays the robustness suite's
// gateway-pause finding against a real Redis: gateway A commits version 2
// and is stopped before its write-through, so Redis still holds version 1.
// Gateway B reads the card from the primary without a fill lease of its
// own (its fence view is stale, its Redis budget is spent, or another
// reader's fill lease is pending) and answers version 2. A later read on B
// must not answer version 1 from the cache: reads are linearizable, also
// for a write not yet acknowledged.
func TestReadNeverGoesBackWhileWriterPaused(t *testing.T) {
	r, err := testservers.StartRedis()
	testservers.RequireT(t, err)
	t.Cleanup(func() { r.Stop() })
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })

	for i, tc := range []struct {
		name string
		// bypass makes B's first read go to the primary without a lease
		// and returns the context to read with; other is a third gateway.
		bypass     func(ctx context.Context, b, other *gateway) context.Context
		wantFences int64
	}{
		{name: "fence view stale", bypass: func(ctx context.Context, b, _ *gateway) context.Context {
			b.stale.Store(true)
			return ctx
		}},
		{name: "Redis budget spent", wantFences: 1, bypass: func(ctx context.Context, _, _ *gateway) context.Context {
			return cache.WithBudget(ctx, 0)
		}},
		{name: "older fill pending", bypass: func(ctx context.Context, _, other *gateway) context.Context {
			return ctx // the other gateway's lease, taken before the write, is pending
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			person := medcard.PersonID(fmt.Sprintf("010180123%d", i))
			store := &pausingStore{Store: medcard.NewMemStore(), armed: make(chan struct{}),
				paused: make(chan struct{}), release: make(chan struct{})}
			fence := &generations{window: 100 * time.Millisecond}
			scope := fmt.Sprintf("pause%d", i)
			a := newGateway(store, rdb, fence, scope)
			b := newGateway(store, rdb, fence, scope)
			other := newGateway(store, rdb, fence, scope)
			read := func(ctx context.Context, g *gateway, messageID string) int64 {
				t.Helper()
				card, err := g.svc.GetMedicineCard(ctx, medcard.Call{Caller: caller, MessageID: messageID}, medcard.CardQuery{PersonID: string(person)})
				if err != nil {
					t.Fatalf("GetMedicineCard(%s) = %v", messageID, err)
				}
				return card.Version
			}

			if _, err := a.svc.Change(ctx, medcard.Call{Caller: caller, MessageID: "m1"}, request(person, 0)); err != nil {
				t.Fatalf("first write: %v", err)
			}
			if v := read(ctx, b, "r0"); v != 1 {
				t.Fatalf("read after the first write = version %d, want 1", v)
			}
			// For "older fill pending": the entry expired, and the other
			// gateway's miss took a lease and read version 1 before the
			// second write; its fill arrives late.
			var pending medcard.CacheSlot
			var pendingCard *medcard.Card
			if tc.name == "older fill pending" {
				rdb.Del(ctx, a.cards.Slot(person).Key)
				pending = other.cards.Slot(person)
				if card := other.cards.Get(ctx, &pending); card != nil || pending.Lease == "" {
					t.Fatalf("Get after the entry expired = %v, lease %q; want a miss with a lease", card, pending.Lease)
				}
				if pendingCard, err = store.ReadCard(ctx, person); err != nil || pendingCard.Version != 1 {
					t.Fatalf("the other gateway's read = %+v, %v; want version 1", pendingCard, err)
				}
			}

			// A commits version 2 and stops before its write-through.
			close(store.armed)
			written := make(chan error, 1)
			go func() {
				_, err := a.svc.Change(ctx, medcard.Call{Caller: caller, MessageID: "m2"}, request(person, 1))
				written <- err
			}()
			<-store.paused

			if v := read(tc.bypass(ctx, b, other), b, "r1"); v != 2 {
				t.Fatalf("read from the primary while the writer is paused = version %d, want 2", v)
			}
			b.stale.Store(false)
			if pendingCard != nil {
				other.cards.Fill(ctx, pending, pendingCard)
			}
			if v := read(ctx, b, "r2"); v < 2 {
				t.Errorf("a read after one that answered version 2 = version %d: it went back in time", v)
			}
			if v := read(ctx, other, "r3"); v < 2 {
				t.Errorf("a read on a third gateway after one that answered version 2 = version %d", v)
			}
			if got := fence.raised.Load(); got != tc.wantFences {
				t.Errorf("%d cache fences raised, want %d", got, tc.wantFences)
			}

			close(store.release)
			if err := <-written; err != nil {
				t.Errorf("the paused write, resumed: %v", err)
			}
			if v := read(ctx, b, "r4"); v != 2 {
				t.Errorf("read after the paused write resumed = version %d, want 2", v)
			}
		})
	}
}

var caller = medcard.Caller{System: "EPJ-A", Organisation: "Region H", Role: medcard.RoleDoctor, AuthorisationID: "ABC12"}

func request(person medcard.PersonID, basedOn int64) medcard.CreateDrugMedicationRequest {
	return medcard.CreateDrugMedicationRequest{
		PersonID: string(person), BasedOnCardVersion: basedOn,
		Drug:       medcard.Drug{Identifier: "28100636892", Name: "Panodil", Form: "filmovertrukne tabletter", Strength: "500 mg", ATCCode: "N02BE01"},
		Dosage:     medcard.Dosage{Text: "2 tabletter 3 gange daglig"},
		Indication: medcard.Indication{Code: "4", Text: "mod smerter"},
		BeginDate:  "2026-03-01", EndDate: "2026-06-30",
	}
}

// gateway is one gateway's service over the shared store and Redis, with
// its own card cache and view of the fences.
type gateway struct {
	svc   *medcard.Service
	cards *cache.Cards
	// stale makes its fence view older than the lease: the cache is
	// bypassed (CacheSlot.Usable false).
	stale atomic.Bool
}

func newGateway(store medcard.Store, rdb *redis.Client, fence *generations, scope string) *gateway {
	g := &gateway{}
	g.cards = cache.NewCards(rdb, cache.CardsOptions{TTL: time.Minute, Timeout: time.Second,
		Scope: func(medcard.PersonID) (string, int64, bool) { return scope, fence.gen.Load(), !g.stale.Load() }})
	now := func() time.Time { return time.Date(2026, time.March, 1, 10, 30, 0, 0, time.UTC) }
	g.svc = medcard.NewService(store, store.(medcard.ReadAuditor), now, medcard.WithCache(g.cards, fence, time.Second))
	return g
}

// generations models shard.Fences for gateways in one process: one fence
// generation, which every gateway sees as soon as it is raised (a lease of
// zero).
type generations struct {
	gen    atomic.Int64
	raised atomic.Int64
	window time.Duration
}

func (f *generations) Fence(context.Context, medcard.PersonID) error {
	f.gen.Add(1)
	f.raised.Add(1)
	return nil
}
func (f *generations) Settled(context.Context, medcard.PersonID) {}
func (f *generations) Window() time.Duration                     { return f.window }

// pausingStore is the shared shard store. Once armed, the next write
// commits and then stops its gateway (as SIGSTOP would) until released,
// before the gateway can write the card through. Every card it reads
// changed 3 s ago by its clock: longer than the settle window, as for a
// gateway paused that long.
type pausingStore struct {
	medcard.Store
	armed, paused, release chan struct{}
	once                   sync.Once
}

func (p *pausingStore) ReadCard(ctx context.Context, person medcard.PersonID) (*medcard.Card, error) {
	card, err := p.Store.ReadCard(ctx, person)
	if card != nil {
		card.ChangedAgo = 3 * time.Second
	}
	return card, err
}

func (p *pausingStore) RecordRead(ctx context.Context, person medcard.PersonID, entry medcard.AuditEntry) error {
	return p.Store.(medcard.ReadAuditor).RecordRead(ctx, person, entry)
}

func (p *pausingStore) WriteCard(ctx context.Context, w *medcard.CardWrite) error {
	err := p.Store.WriteCard(ctx, w)
	select {
	case <-p.armed:
		p.once.Do(func() {
			close(p.paused)
			<-p.release
		})
	default:
	}
	return err
}
