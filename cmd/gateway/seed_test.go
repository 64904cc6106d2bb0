package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/internal/testcluster"
	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/shard"
)

// TestSeedMedications: `gateway seed --medications N` loads a card of
// exactly N drug medications for every person, the cards the generator
// makes with DrugMedications = N; a number out of range is refused before
// anything is written.
func TestSeedMedications(t *testing.T) {
	bin := gatewayBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tc, err := testcluster.Start(ctx, testcluster.Options{})
	testservers.RequireT(t, err)
	t.Cleanup(func() { tc.Stop() })
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MEDCARD_") })
	g := gatewayCLI{t: t, ctx: ctx, bin: bin, env: append(env, "MEDCARD_CATALOG_DSN="+tc.CatalogDSN)}

	for _, bad := range []string{"-1", "101"} {
		wantIn(t, "seed --medications "+bad, g.fails("seed", "--persons", "10", "--medications", bad), "--medications must be between 0 and 100")
	}
	store, err := shard.Open(ctx, shard.NewCatalog(tc.Catalog, time.Now), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if cards, _, err := store.CardStorage(ctx); err != nil || cards != 0 {
		t.Fatalf("after the refused seeds the databases hold %d cards (%v), want none", cards, err)
	}

	const persons, medications = 40, 7
	wantIn(t, "seed --medications", g.ok("seed", "--persons", "40", "--medications", "7", "--seed", "11"), "40 new cards written")
	gen := seed.New(11, time.Now())
	gen.DrugMedications = medications
	for i := range persons {
		got, err := store.ReadCard(ctx, gen.Person(i))
		if err != nil {
			t.Fatalf("ReadCard(seeded person %d) = %v", i, err)
		}
		if len(got.DrugMedications) != medications {
			t.Errorf("seeded person %d: %d drug medications, want %d", i, len(got.DrugMedications), medications)
		}
		if want := gen.Card(i); cardJSON(t, got) != cardJSON(t, want) {
			t.Errorf("seeded person %d: the stored card differs from the generator's:\n got %s\nwant %s", i, cardJSON(t, got), cardJSON(t, want))
		}
	}
}
