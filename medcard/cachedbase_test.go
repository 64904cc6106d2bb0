package medcard

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// peekCache is a fakeCache whose write-throughs succeed and whose Peek
// answers a copy of base, as Redis answers a cached entry (nil: a miss).
type peekCache struct {
	fakeCache
	base  *Card
	peeks int
}

func (c *peekCache) Peek(context.Context, CacheSlot) *Card {
	c.peeks++
	if c.base == nil {
		return nil
	}
	return c.base.Clone()
}

// TestWriteOnCachedBase: a write whose card is cached at its current
// version takes one store call (the compare-and-set write); a cached card
// that is older, a MessageID already used, and a refusal decided on an
// older cached card each fall back to reading the database, and the answer
// is the one the database's card gives.
func TestWriteOnCachedBase(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	c := &peekCache{fakeCache: fakeCache{mode: "ok"}}
	s := NewService(m, m, func() time.Time { return fixedNow }, WithCache(c, &fakeFence{}, time.Second))
	call := func(id string) Call { return Call{Caller: doctor, MessageID: id} }
	stored := func() *Card {
		t.Helper()
		card, err := m.ReadCard(ctx, testPerson)
		if err != nil {
			t.Fatal(err)
		}
		return card
	}
	calls := func() [2]int { return [2]int{m.readForWriteCalls, m.writeCardCalls} }
	wantCalls := func(what string, before [2]int, reads, writes int) {
		t.Helper()
		got := calls()
		if got[0]-before[0] != reads || got[1]-before[1] != writes {
			t.Errorf("%s: %d database reads and %d writes, want %d and %d", what, got[0]-before[0], got[1]-before[1], reads, writes)
		}
	}

	// A miss: the write reads the database, as always.
	before := calls()
	first := mustCreate(t, s, doctor, "m1", validRequest(testPerson))
	wantCalls("cache miss", before, 1, 1)

	// Cached at the current version: one round trip, no read.
	c.base = stored()
	before = calls()
	second := mustCreate(t, s, doctor, "m2", validRequest(testPerson))
	wantCalls("cached at the current version", before, 0, 1)
	if second.CardVersion != 2 || first.CardVersion != 1 {
		t.Fatalf("versions %d then %d, want 1 then 2", first.CardVersion, second.CardVersion)
	}

	// Cached one version behind: the compare-and-set refuses, the write
	// reads the card and commits on it; both items are on the card.
	oldBase := stored()
	oldBase.Version = 1
	oldBase.DrugMedications = oldBase.DrugMedications[:1]
	c.base = oldBase
	before = calls()
	third := mustCreate(t, s, doctor, "m3", validRequest(testPerson))
	wantCalls("cached one version behind", before, 1, 2)
	if got := stored(); third.CardVersion != 3 || got.Version != 3 || len(got.DrugMedications) != 3 {
		t.Fatalf("after a stale base: answer version %d, card version %d with %d drug medications, want 3, 3, 3",
			third.CardVersion, got.Version, len(got.DrugMedications))
	}

	// A resend of m3, the card cached at its current version: the
	// MessageID's stored outcome refuses the write, the read finds it, and
	// the resend gets the first answer; nothing changes.
	c.base = stored()
	before = calls()
	again, err := s.Change(ctx, call("m3"), validRequest(testPerson))
	if err != nil {
		t.Fatal(err)
	}
	wantCalls("resend", before, 1, 1)
	if !again.Replayed || again.CardVersion != third.CardVersion || !reflect.DeepEqual(again.Items, third.Items) {
		t.Errorf("resend answered %+v, want the stored %+v, replayed", again, third)
	}
	if got := stored(); got.Version != 3 {
		t.Errorf("the resend changed the card to version %d", got.Version)
	}

	// A request based on version 3 is refused on a card cached at version
	// 2 (InvalidMedicineCardVersion: newer than the card) but valid on the
	// database's card: it is not refused.
	stale := stored()
	stale.Version = 2
	c.base = stale
	req := validRequest(testPerson)
	req.BasedOnCardVersion = 3
	before = calls()
	fourth, err := s.Change(ctx, call("m4"), req)
	if err != nil {
		t.Fatalf("a request valid on the database's card but not on the cached one: %v", err)
	}
	wantCalls("refused on the cached card only", before, 1, 1)
	if fourth.CardVersion != 4 || len(fourth.Warnings) != 0 {
		t.Errorf("answered %+v, want version 4 without warnings", fourth)
	}
}
