package shard

import (
	"fmt"
	"testing"

	"github.com/sharedmedcard/gateway/medcard"
)

// BenchmarkWriteCard is one new card written through Store.WriteCard (the
// hot path's write: card, outcome, audit row and open orders in one round
// trip) on the test cluster's real PostgreSQL; each iteration a person of
// its own, born in 1999.
func BenchmarkWriteCard(b *testing.B) {
	if it == nil {
		b.Skip("no PostgreSQL on this machine")
	}
	n := drawn[99]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := fmt.Sprintf("%02d%02d%02d%04d", 1+n%28, 1+(n/28)%12, 99, n/(28*12))
		n++
		w := newWrite(medcard.PersonID(s), 0, fmt.Sprintf("bench/%d", n))
		if err := it.store.WriteCard(b.Context(), w); err != nil {
			b.Fatal(err)
		}
	}
	drawn[99] = n
}
