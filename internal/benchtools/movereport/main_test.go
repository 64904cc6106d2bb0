package main

import (
	"slices"
	"testing"
)

// TestParseFreezeDetail reads the marks of a freeze step's journal detail
// as the mover writes it (taken from a run's `gateway shard moves ID`), the
// last try's when a freeze was tried again.
func TestParseFreezeDetail(t *testing.T) {
	const detail = "try 1: frozen at 9.1 ms, overran; try 2: frozen at 22.8 ms, last changes at the target and owned there 43.5, " +
		"fence held 75.0; flip from 82.0 ms, map flipped 108.1, released 144.2; writes frozen 146.6 ms"
	marks, ok := parseFreezeDetail(detail)
	if !ok {
		t.Fatalf("parseFreezeDetail(%q) failed", detail)
	}
	want := []float64{22.8, 43.5, 75.0, 82.0, 108.1, 144.2}
	if !slices.Equal(marks, want) {
		t.Errorf("marks = %v, want %v", marks, want)
	}
	if _, ok := parseFreezeDetail("try 1: frozen at 22.8 ms, overran"); ok {
		t.Error("a detail without a flip parsed")
	}
}
