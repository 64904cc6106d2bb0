package medcard

import (
	"fmt"
	"testing"
)

// TestRenditionsKeepTheLastViews: a view's rendition is found until two
// newer views took the slots; putting a view again replaces its bytes; nil
// renditions and an empty view keep nothing.
func TestRenditionsKeepTheLastViews(t *testing.T) {
	var r Renditions
	r.Put("a", []byte("A"))
	r.Put("b", []byte("B"))
	r.Put("a", []byte("A2"))
	if got := string(r.Get("a")); got != "A2" {
		t.Errorf("Get(a) = %q, want A2", got)
	}
	r.Put("c", []byte("C")) // takes the oldest slot: a's
	if r.Get("a") != nil || string(r.Get("b")) != "B" || string(r.Get("c")) != "C" {
		t.Errorf("after a third view: a %q, b %q, c %q; want a gone", r.Get("a"), r.Get("b"), r.Get("c"))
	}
	r.Put("", []byte("nameless"))
	if r.Get("") != nil {
		t.Error("an empty view was kept")
	}
	var none *Renditions
	none.Put("a", []byte("A"))
	if none.Get("a") != nil {
		t.Error("nil renditions returned a rendition")
	}
}

// TestCardViewNamesTheQuery: every query GetMedicineCard answers has a view
// of its own, so two queries never share a rendition.
func TestCardViewNamesTheQuery(t *testing.T) {
	seen := map[string]string{}
	for _, p := range []bool{false, true} {
		for _, e := range []bool{false, true} {
			for _, since := range []Date{"", "2026-01-01", "2026-01-02"} {
				q := fmt.Sprint(p, e, since)
				v := cardView(p, e, since)
				if other, ok := seen[v]; ok {
					t.Errorf("queries %s and %s share the view %q", other, q, v)
				}
				seen[v] = q
			}
		}
	}
}
