package cache

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCards measures each card cache call against the test Redis, one
// at a time (round trips on loopback, not throughput): a hit, a miss that
// takes a lease and fills, a write-through, and a read without a lease
// that finds the cached version (unchanged) or raises an older one.
func BenchmarkCards(b *testing.B) {
	ctx := context.Background()
	rdb := newClient(b)
	key, gen := "bench", int64(0)
	c := NewCards(rdb, CardsOptions{TTL: time.Minute, Timeout: time.Second, Scope: scopeOf(&key, &gen)})
	slot := c.Slot(person)
	c.Written(ctx, slot, cardAt(1, "bench"))

	b.Run("hit", func(b *testing.B) {
		for b.Loop() {
			s := slot
			if c.Get(ctx, &s) == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("miss+fill", func(b *testing.B) {
		card := cardAt(2, "bench")
		for b.Loop() {
			rdb.Del(ctx, slot.Key)
			s := slot
			if c.Get(ctx, &s) != nil || s.Lease == "" {
				b.Fatal("want a miss with a lease")
			}
			c.Fill(ctx, s, card)
		}
	})
	b.Run("written", func(b *testing.B) {
		v := int64(2)
		for b.Loop() {
			v++
			c.Written(ctx, slot, cardAt(v, "bench"))
		}
	})
	b.Run("raise/unchanged", func(b *testing.B) {
		card := cardAt(1_000_000, "bench")
		c.Written(ctx, slot, card)
		for b.Loop() {
			c.Raise(ctx, slot, card)
		}
	})
	b.Run("raise/in-place", func(b *testing.B) {
		v := int64(2_000_000)
		c.Written(ctx, slot, cardAt(v, "bench"))
		for b.Loop() {
			v++
			c.Raise(ctx, slot, cardAt(v, "bench"))
		}
	})
}
