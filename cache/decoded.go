package cache

import (
	"container/list"
	"sync"

	"github.com/sharedmedcard/gateway/medcard"
)

// decodedCards remembers, per cache key, the card last decoded from an
// entry's body, so that a hit whose body is byte for byte the one decoded
// before costs a comparison instead of a JSON decode (a tenth of a cached
// read's CPU; docs/performance.md, round 3). It is keyed by the exact bytes
// Redis returned, after the entry's generation was checked: it never
// decides what is served, only spares decoding the same bytes twice, so a
// newer entry (other bytes) is decoded afresh and replaces the old one.
//
// It is bounded by the bytes of the bodies it holds (the decoded cards take
// about as much again, and their answers rendered for at most two views,
// medcard.Renditions, at most twice as much) and forgets the least recently
// used key first.
type decodedCards struct {
	max int64

	mu    sync.Mutex
	bytes int64
	byKey map[string]*list.Element // of *decodedCard
	lru   list.List                // front: most recently used
}

type decodedCard struct {
	key  string
	body string
	card *medcard.Card // never handed out: callers get a Clone, with its Renditions
}

// defaultDecodedBytes bounds the bodies remembered when
// CardsOptions.DecodedBytes is zero: about 1,200 average cards (6.9 kB).
const defaultDecodedBytes = 8 << 20

func newDecodedCards(max int64) *decodedCards {
	return &decodedCards{max: max, byKey: map[string]*list.Element{}}
}

// decode returns the card body encodes, from memory when body is what was
// last decoded for key. The caller may change the card's item slices (it
// is a medcard.Card.Clone).
func (d *decodedCards) decode(key, body string) (*medcard.Card, error) {
	if d == nil {
		return decodeCard(body)
	}
	d.mu.Lock()
	if el, ok := d.byKey[key]; ok {
		if e := el.Value.(*decodedCard); e.body == body {
			d.lru.MoveToFront(el)
			d.mu.Unlock()
			return e.card.Clone(), nil
		}
	}
	d.mu.Unlock()

	card, err := decodeCard(body)
	if err != nil || int64(len(body)) > d.max {
		return card, err
	}
	// These bytes' renditions, shared by every card decoded from them
	// (medcard.Renditions); other bytes under key get new ones.
	card.Renditions = &medcard.Renditions{}
	d.put(key, body, card.Clone())
	return card, nil
}

// put remembers card as the decoding of body under key, replacing what was
// remembered for key.
func (d *decodedCards) put(key, body string, card *medcard.Card) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.byKey[key]; ok {
		d.remove(el)
	}
	d.byKey[key] = d.lru.PushFront(&decodedCard{key: key, body: body, card: card})
	d.bytes += int64(len(body))
	for d.bytes > d.max {
		d.remove(d.lru.Back())
	}
}

func (d *decodedCards) remove(el *list.Element) {
	e := d.lru.Remove(el).(*decodedCard)
	delete(d.byKey, e.key)
	d.bytes -= int64(len(e.body))
}

// decodeCard decodes a cached card's body.
func decodeCard(body string) (*medcard.Card, error) {
	card := &medcard.Card{}
	if err := medcard.DecodeCard([]byte(body), card); err != nil {
		return nil, err
	}
	return card, nil
}
