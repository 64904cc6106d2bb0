package shard

import (
	"fmt"
	"math"
	"testing"
)

// goldenShards pins the hash. These values must never change: they decide
// where every stored card lives.
var goldenShards = []struct {
	person string
	shard  int
}{
	// Computed independently: int.from_bytes(hashlib.sha256(cpr).digest()[:8], "big") & 1023.
	{"0101701234", 154},
	{"3112999999", 1021},
	{"0101000000", 634},
	{"2902400001", 953},
	{"1506855678", 454},
	{"0708094321", 17},
	{"1111111118", 295},
	{"0000000000", 877},
}

func TestOfGolden(t *testing.T) {
	for _, g := range goldenShards {
		if got := Of(g.person); got != g.shard {
			t.Errorf("Of(%q) = %d, want %d", g.person, got, g.shard)
		}
	}
}

// TestOfUniform checks with a chi-square test that 1M synthetic CPR numbers
// (consecutive birth dates and sequence numbers, the structured input the
// hash must spread) fall evenly over the 1024 shards.
func TestOfUniform(t *testing.T) {
	var counts [Count]int
	n := 0
	for day := 0; n < 1_000_000; day++ {
		d := 1 + day%28
		m := 1 + (day/28)%12
		y := (day / (28 * 12)) % 100
		for seq := 0; seq < 250 && n < 1_000_000; seq++ {
			counts[Of(fmt.Sprintf("%02d%02d%02d%04d", d, m, y, seq))]++
			n++
		}
	}
	expected := float64(n) / Count
	chi2 := 0.0
	for _, c := range counts {
		diff := float64(c) - expected
		chi2 += diff * diff / expected
	}
	// 1023 degrees of freedom: mean 1023, sd sqrt(2*1023) ~ 45. The 99.9th
	// percentile is about 1168; a fair hash fails this one run in a thousand.
	const limit = 1168.0
	if chi2 > limit || math.IsNaN(chi2) {
		t.Errorf("chi-square over %d shards = %.1f, want <= %.0f", Count, chi2, limit)
	}
	t.Logf("chi-square = %.1f (df 1023)", chi2)
}
