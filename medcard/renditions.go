package medcard

import "sync"

// Renditions memoises what is rendered from the bytes of one stored card:
// the answer of a read, per view (Card.View). The card cache hands the same
// *Renditions with every card it decodes from the same entry bytes, and a
// new one for other bytes, so a rendition never outlives the content it was
// made from; a card read from the database, or decoded for a write, has
// none, and is rendered afresh every time.
//
// Rendering a large card is most of a cached read's CPU (docs/performance.md,
// "How cost grows"): at 50 drug medications, 45% of it.
//
// It keeps the last maxRenditions views: a card is mostly read one or two
// ways (a pharmacy with its prescriptions, a GP without), and the card
// cache bounds how many cards have renditions.
type Renditions struct {
	mu    sync.Mutex
	views [maxRenditions]rendition
	next  int // the slot the next new view takes
}

type rendition struct {
	view  string
	bytes []byte
}

const maxRenditions = 2

// Get returns the rendition of view, or nil; a nil *Renditions has none.
// The bytes are shared: the caller must not change them.
func (r *Renditions) Get(view string) []byte {
	if r == nil || view == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.views {
		if r.views[i].view == view {
			return r.views[i].bytes
		}
	}
	return nil
}

// Put remembers b as the rendition of view; nothing may change b after.
// A nil *Renditions remembers nothing.
func (r *Renditions) Put(view string, b []byte) {
	if r == nil || view == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.views {
		if r.views[i].view == view {
			r.views[i].bytes = b
			return
		}
	}
	r.views[r.next] = rendition{view: view, bytes: b}
	r.next = (r.next + 1) % maxRenditions
}
