package cache

import (
	"context"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// conflictCard is a card at version whose drug medication has a conflict:
// the conflict's pointer tells a remembered decoding (shared) from a fresh
// one.
func conflictCard(tb testing.TB, version int64, dosage string) string {
	tb.Helper()
	card := cardAt(version, dosage)
	card.DrugMedications[0].Conflict = &medcard.Conflict{Rule: "r", Variants: []medcard.DrugMedication{{Dosage: medcard.Dosage{Text: dosage}}}}
	body, err := medcard.EncodeCard(card)
	if err != nil {
		tb.Fatal(err)
	}
	return string(body)
}

// TestDecodedCardsSpareTheSameBytes: the same bytes under the same key are
// decoded once; the copy handed out can be changed without changing the
// next; other bytes (a newer entry) are decoded afresh and replace it.
func TestDecodedCardsSpareTheSameBytes(t *testing.T) {
	d := newDecodedCards(1 << 20)
	v1 := conflictCard(t, 1, "one")
	first, err := d.decode("k", v1)
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.decode("k", v1)
	if err != nil {
		t.Fatal(err)
	}
	if second.DrugMedications[0].Conflict != first.DrugMedications[0].Conflict {
		t.Error("decode(the same bytes) decoded them again, want the remembered card")
	}
	second.DrugMedications[0].Dosage.Text = "changed by a reader"
	second.DrugMedications = nil
	third, _ := d.decode("k", v1)
	if len(third.DrugMedications) != 1 || third.DrugMedications[0].Dosage.Text != "one" {
		t.Errorf("after a reader changed its copy, decode = %+v, want the card as stored", third.DrugMedications)
	}

	v2 := conflictCard(t, 2, "two")
	newer, err := d.decode("k", v2)
	if err != nil {
		t.Fatal(err)
	}
	if newer.Version != 2 || newer.DrugMedications[0].Dosage.Text != "two" {
		t.Errorf("decode(newer bytes) = version %d %q, want version 2 \"two\"", newer.Version, newer.DrugMedications[0].Dosage.Text)
	}
	if again, _ := d.decode("k", v1); again.Version != 1 || again.DrugMedications[0].Conflict == first.DrugMedications[0].Conflict {
		t.Errorf("decode(the older bytes again) = version %d from memory, want version 1 decoded afresh", again.Version)
	}

	if _, err := d.decode("bad", "{not json"); err == nil {
		t.Error("decode(unreadable bytes) = nil error")
	}
	if _, ok := d.byKey["bad"]; ok {
		t.Error("unreadable bytes were remembered")
	}
}

// TestDecodedCardsShareRenditionsOfTheSameBytes: every card decoded from
// the same bytes under a key carries the same Renditions (so an answer
// rendered from one serves the next), and other bytes, or the same bytes
// after others replaced them, get renditions of their own: a rendition
// never outlives the bytes it was made from.
func TestDecodedCardsShareRenditionsOfTheSameBytes(t *testing.T) {
	d := newDecodedCards(1 << 20)
	v1, v2 := conflictCard(t, 1, "one"), conflictCard(t, 2, "two")
	first, _ := d.decode("k", v1)
	second, _ := d.decode("k", v1)
	if first.Renditions == nil || second.Renditions != first.Renditions {
		t.Fatalf("two decodings of the same bytes: renditions %p and %p, want one shared", first.Renditions, second.Renditions)
	}
	first.Renditions.Put("view", []byte("<answer of version 1/>"))
	newer, _ := d.decode("k", v2)
	if newer.Renditions == nil || newer.Renditions == first.Renditions || newer.Renditions.Get("view") != nil {
		t.Errorf("decoding newer bytes: renditions %p (of the older bytes: %p), want new and empty", newer.Renditions, first.Renditions)
	}
	if again, _ := d.decode("k", v1); again.Renditions == first.Renditions {
		t.Error("the older bytes decoded again after newer ones: got the older renditions back, want new ones")
	}
	if other, _ := d.decode("other key", v1); other.Renditions == first.Renditions {
		t.Error("the same bytes under another key share renditions")
	}
	var none *decodedCards // no decoded cache: no renditions either
	if c, _ := none.decode("k", v1); c.Renditions != nil {
		t.Error("without a decoded cache a card has renditions")
	}
}

// TestDecodedCardsBounded: past the byte bound the least recently used
// key is forgotten first; a body larger than the bound is not kept.
func TestDecodedCardsBounded(t *testing.T) {
	body := conflictCard(t, 1, "x")
	d := newDecodedCards(int64(2 * len(body)))
	for _, k := range []string{"a", "b", "a", "c"} { // a used after b: b goes
		if _, err := d.decode(k, body); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := d.byKey["b"]; ok || len(d.byKey) != 2 || d.bytes > d.max {
		t.Errorf("remembered %d keys (b: %v), %d bytes of at most %d; want a and c", len(d.byKey), ok, d.bytes, d.max)
	}
	small := newDecodedCards(int64(len(body) - 1))
	if _, err := small.decode("a", body); err != nil {
		t.Fatal(err)
	}
	if len(small.byKey) != 0 || small.bytes != 0 {
		t.Errorf("a body over the bound was kept: %d keys, %d bytes", len(small.byKey), small.bytes)
	}
}

// TestHitsDecodeOnceAndFollowWrites: against Redis, a second hit on an
// unchanged entry is served from the remembered decoding, a write-through
// is served at once, and Peek (the base of a write, changed deep inside)
// always decodes afresh.
func TestHitsDecodeOnceAndFollowWrites(t *testing.T) {
	ctx := context.Background()
	key, gen := "decoded", int64(0) // a scope of its own: other tests' entries are newer
	c := NewCards(newClient(t), CardsOptions{TTL: time.Minute, Timeout: time.Second, Scope: scopeOf(&key, &gen)})
	withConflict := func(v int64) *medcard.Card {
		card := cardAt(v, "dosage")
		card.DrugMedications[0].Conflict = &medcard.Conflict{Rule: "r"}
		return card
	}
	if !c.Written(ctx, c.Slot(person), withConflict(1)) {
		t.Fatal("Written = false")
	}
	get := func() *medcard.Card {
		slot := c.Slot(person)
		card := c.Get(ctx, &slot)
		if card == nil {
			t.Fatal("Get = miss, want a hit")
		}
		return card
	}
	first, second := get(), get()
	if first.Version != 1 || first.DrugMedications[0].Conflict == nil {
		t.Fatalf("Get = version %d, conflict %v; want version 1 with its conflict", first.Version, first.DrugMedications[0].Conflict)
	}
	if first.DrugMedications[0].Conflict != second.DrugMedications[0].Conflict {
		t.Error("the second hit on the same entry decoded it again")
	}
	if base := c.Peek(ctx, c.Slot(person)); base == nil || base.DrugMedications[0].Conflict == first.DrugMedications[0].Conflict {
		t.Error("Peek returned the remembered decoding, want its own")
	}
	if !c.Written(ctx, c.Slot(person), withConflict(2)) {
		t.Fatal("Written = false")
	}
	if got := get(); got.Version != 2 {
		t.Errorf("Get after a write-through of version 2 = version %d", got.Version)
	}

	off := NewCards(newClient(t), CardsOptions{TTL: time.Minute, Timeout: time.Second, Scope: scopeOf(&key, &gen), DecodedBytes: -1})
	s1, s2 := c.Slot(person), c.Slot(person)
	if a, b := off.Get(ctx, &s1), off.Get(ctx, &s2); a == nil || b == nil || a.DrugMedications[0].Conflict == b.DrugMedications[0].Conflict {
		t.Error("DecodedBytes -1: hits shared a decoding, want none kept")
	}
}
