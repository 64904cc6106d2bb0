package medcard

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
)

// memStore is an in-memory Store for the service's unit tests. It keeps
// cards and outcomes as JSON, as the shard store does, so that callers can
// never alias stored state, and it implements compare-and-set exactly as
// store.go documents it.
//
// Lock order: a person's lock (see lockPerson) before mu. ReadCard and
// ReadForWrite take only mu, as reads in PostgreSQL are not blocked by row
// locks; WriteCard waits for the person's lock, as an UPDATE waits for a
// row locked FOR UPDATE.
type memStore struct {
	mu       sync.Mutex
	cards    map[PersonID][]byte // JSON of Card, including its version
	outcomes map[OutcomeKey][]byte
	audit    []AuditEntry
	// auditPersons[i] is the person of audit[i].
	auditPersons []PersonID
	persons      map[PersonID]*sync.Mutex

	// beforeCommit, if set, is called with mu held just before a write
	// commits: by WriteCard (locked false) and by WriteLocked (locked
	// true), after its decide. It simulates concurrent writers: it may
	// change the store through m.otherWrite, and a non-nil error it returns
	// is returned by the write instead of committing.
	beforeCommit func(w *CardWrite, locked bool) error
	// readErr, if set, is returned by ReadCard and ReadForWrite.
	readErr error

	// Calls, for assertions on the path the service took.
	readForWriteCalls int
	// moving makes ReadForWrite answer as a database whose shard is
	// frozen for a move (Card.Moving).
	moving           bool
	writeCardCalls   int
	writeLockedCalls int
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		cards:    map[PersonID][]byte{},
		outcomes: map[OutcomeKey][]byte{},
		persons:  map[PersonID]*sync.Mutex{},
	}
}

// lockPerson takes the person's lock (the row lock of their card) and
// returns its unlock.
func (m *memStore) lockPerson(person PersonID) func() {
	m.mu.Lock()
	l, ok := m.persons[person]
	if !ok {
		l = &sync.Mutex{}
		m.persons[person] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// cardMu returns a copy of the person's card, or an empty card at version 0
// if there is none. m.mu must be held.
func (m *memStore) cardMu(person PersonID) (*Card, error) {
	card := &Card{}
	body, ok := m.cards[person]
	if !ok {
		return card, nil
	}
	if err := json.Unmarshal(body, card); err != nil {
		return nil, WrapError(FaultInternal, err, "stored card is unreadable")
	}
	return card, nil
}

// outcomeMu returns a copy of the outcome stored under key, or nil. m.mu
// must be held.
func (m *memStore) outcomeMu(key OutcomeKey) (*StoredOutcome, error) {
	body, ok := m.outcomes[key]
	if !ok {
		return nil, nil
	}
	o := &StoredOutcome{}
	if err := json.Unmarshal(body, o); err != nil {
		return nil, WrapError(FaultInternal, err, "stored outcome is unreadable")
	}
	return o, nil
}

// ReadCard implements Store.
func (m *memStore) ReadCard(_ context.Context, person PersonID) (*Card, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.readErr != nil {
		return nil, m.readErr
	}
	return m.cardMu(person)
}

// RecordRead implements ReadAuditor: the memory store keeps look-ups in the
// same trail as changes.
func (m *memStore) RecordRead(_ context.Context, person PersonID, audit AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.audit = append(m.audit, audit)
	m.auditPersons = append(m.auditPersons, person)
	return nil
}

// ReadAccessLog implements Store: the row id of an entry is its position
// in the trail, plus one.
func (m *memStore) ReadAccessLog(_ context.Context, person PersonID, r AccessLogRange) ([]LoggedAccess, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []LoggedAccess
	for i, e := range m.audit {
		id := int64(i + 1)
		before := e.At.Before(r.Before.At) || (e.At.Equal(r.Before.At) && id < r.Before.ID)
		if m.auditPersons[i] == person && !e.At.Before(r.From) && before {
			out = append(out, LoggedAccess{ID: id, Entry: e})
		}
	}
	slices.SortFunc(out, func(a, b LoggedAccess) int {
		if c := b.Entry.At.Compare(a.Entry.At); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if len(out) > r.Limit {
		out = out[:r.Limit]
	}
	return out, nil
}

// ReadForWrite implements Store.
func (m *memStore) ReadForWrite(_ context.Context, person PersonID, key OutcomeKey) (*Card, *StoredOutcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.readForWriteCalls++
	if m.readErr != nil {
		return nil, nil, m.readErr
	}
	card, err := m.cardMu(person)
	if err != nil {
		return nil, nil, err
	}
	o, err := m.outcomeMu(key)
	if err != nil {
		return nil, nil, err
	}
	card.Moving = m.moving
	return card, o, nil
}

// commitMu commits w if the stored card is still at w.BaseVersion and w.Key
// is free, and returns ErrLostRace otherwise. m.mu must be held.
func (m *memStore) commitMu(w *CardWrite, locked bool) error {
	if m.beforeCommit != nil {
		if err := m.beforeCommit(w, locked); err != nil {
			return err
		}
	}
	current, err := m.cardMu(w.Person)
	if err != nil {
		return err
	}
	if current.Version != w.BaseVersion {
		return ErrLostRace
	}
	if _, taken := m.outcomes[w.Key]; taken {
		return ErrLostRace
	}
	return m.applyMu(w)
}

// applyMu stores w's card, outcome and audit row without any check. m.mu
// must be held; beforeCommit may use it to commit a twin request first.
func (m *memStore) applyMu(w *CardWrite) error {
	card, err := json.Marshal(w.Card)
	if err != nil {
		return WrapError(FaultInternal, err, "encode card")
	}
	outcome, err := json.Marshal(StoredOutcome{RequestHash: w.RequestHash, Result: w.Result})
	if err != nil {
		return WrapError(FaultInternal, err, "encode outcome")
	}
	m.cards[w.Person] = card
	m.outcomes[w.Key] = outcome
	m.audit = append(m.audit, w.Audit)
	m.auditPersons = append(m.auditPersons, w.Person)
	return nil
}

// WriteCard implements Store.
func (m *memStore) WriteCard(_ context.Context, w *CardWrite) error {
	unlock := m.lockPerson(w.Person)
	defer unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writeCardCalls++
	return m.commitMu(w, false)
}

// WriteLocked implements Store: the person's lock is held from the read
// through decide to the commit.
func (m *memStore) WriteLocked(_ context.Context, person PersonID, key OutcomeKey,
	decide func(*Card, *StoredOutcome) (*CardWrite, error)) error {
	unlock := m.lockPerson(person)
	defer unlock()

	m.mu.Lock()
	m.writeLockedCalls++
	card, err := m.cardMu(person)
	var o *StoredOutcome
	if err == nil {
		o, err = m.outcomeMu(key)
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}

	w, err := decide(card, o)
	if err != nil || w == nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.commitMu(w, true)
}

// otherWrite simulates another system adding a drug medication to the
// person's card (creating the card if need be), without an outcome or an
// audit row. m.mu must be held; it is meant for beforeCommit.
func (m *memStore) otherWrite(person PersonID) {
	card, err := m.cardMu(person)
	if err != nil {
		panic(err)
	}
	card.Version++
	card.DrugMedications = append(card.DrugMedications, DrugMedication{
		ID: card.nextItemID(), Version: 1, CardVersion: card.Version, Status: DrugMedicationActive,
		Drug: Drug{Identifier: "other", Name: "Other"}, BeginDate: "2026-01-01",
	})
	body, err := json.Marshal(card)
	if err != nil {
		panic(err)
	}
	m.cards[person] = body
}

// storedCard returns a copy of the person's stored card, or nil if there is
// none.
func (m *memStore) storedCard(t *testing.T, person PersonID) *Card {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cards[person]; !ok {
		return nil
	}
	card, err := m.cardMu(person)
	if err != nil {
		t.Fatalf("stored card: %v", err)
	}
	return card
}

// auditRows returns a copy of the audit trail.
func (m *memStore) auditRows() []AuditEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]AuditEntry(nil), m.audit...)
}

// outcomeCount returns how many write outcomes are stored.
func (m *memStore) outcomeCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.outcomes)
}

// calls returns the number of ReadForWrite, WriteCard and WriteLocked calls.
func (m *memStore) calls() (readForWrite, writeCard, writeLocked int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readForWriteCalls, m.writeCardCalls, m.writeLockedCalls
}

// TestMemStoreDoesNotAlias checks that the test store itself cannot be
// changed through values it returned or was given, which the service tests
// rely on.
func TestMemStoreDoesNotAlias(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	const person = PersonID("0101801234")
	card := &Card{Version: 1, LastItemID: 1, DrugMedications: []DrugMedication{{ID: 1, Version: 1, CardVersion: 1}}}
	w := &CardWrite{Person: person, BaseVersion: 0, Card: card, Key: OutcomeKey{"sys", "m1"},
		RequestHash: []byte{1}, Result: WriteResult{CardVersion: 1, Items: []ItemVersion{{ItemDrugMedication, 1, 1}}}}
	if err := m.WriteCard(ctx, w); err != nil {
		t.Fatalf("WriteCard = %v, want nil", err)
	}
	card.DrugMedications[0].Version = 99
	w.Result.Items[0].Version = 99

	got, o, err := m.ReadForWrite(ctx, person, w.Key)
	if err != nil {
		t.Fatalf("ReadForWrite = %v, want nil", err)
	}
	if got.DrugMedications[0].Version != 1 || o.Result.Items[0].Version != 1 {
		t.Fatalf("stored state changed through the caller's values")
	}
	got.DrugMedications[0].Version = 42
	if again := m.storedCard(t, person); again.DrugMedications[0].Version != 1 {
		t.Fatalf("stored card changed through a returned card")
	}

	// Compare-and-set: a stale base version or a taken key loses.
	stale := &CardWrite{Person: person, BaseVersion: 0, Card: &Card{Version: 1}, Key: OutcomeKey{"sys", "m2"}}
	if err := m.WriteCard(ctx, stale); err != ErrLostRace {
		t.Errorf("WriteCard(stale base) = %v, want ErrLostRace", err)
	}
	taken := &CardWrite{Person: person, BaseVersion: 1, Card: &Card{Version: 2}, Key: w.Key}
	if err := m.WriteCard(ctx, taken); err != ErrLostRace {
		t.Errorf("WriteCard(taken key) = %v, want ErrLostRace", err)
	}
	if got := m.storedCard(t, person).Version; got != 1 {
		t.Errorf("stored version = %d, want 1", got)
	}
}

// memSnapshot is the whole state of a memStore, for asserting that a
// request wrote nothing.
type memSnapshot struct {
	Cards    map[PersonID]string
	Outcomes map[OutcomeKey]string
	Audit    []AuditEntry
}

func (m *memStore) snapshot() memSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := memSnapshot{Cards: map[PersonID]string{}, Outcomes: map[OutcomeKey]string{}}
	for p, b := range m.cards {
		s.Cards[p] = string(b)
	}
	for k, b := range m.outcomes {
		s.Outcomes[k] = string(b)
	}
	s.Audit = append(s.Audit, m.audit...)
	return s
}
