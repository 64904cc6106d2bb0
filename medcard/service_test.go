package medcard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fixedNow is the clock of every service under test. It is deliberately not
// in UTC: the service stamps in UTC.
var fixedNow = time.Date(2026, time.March, 1, 10, 30, 0, 0, time.FixedZone("CET", 3600))

const (
	testPerson  = "0101801234"
	otherPerson = "1502034321"
)

var (
	doctor     = Caller{System: "EPJ-A", Organisation: "Region H", Role: RoleDoctor, AuthorisationID: "ABC12"}
	nurse      = Caller{System: "EPJ-A", Organisation: "Region H", Role: RoleNurse}
	pharmacist = Caller{System: "Apotek", Organisation: "Apotek 1", Role: RolePharmacist, AuthorisationID: "PH1"}
)

// newTestService returns a Service over a fresh memStore with the fixed clock.
func newTestService(t *testing.T) (*Service, *memStore) {
	t.Helper()
	m := newMemStore()
	return NewService(m, m, func() time.Time { return fixedNow }), m
}

// validRequest returns a valid CreateDrugMedicationRequest for person.
func validRequest(person string) CreateDrugMedicationRequest {
	return CreateDrugMedicationRequest{
		PersonID:   person,
		Drug:       Drug{Identifier: "28100636892", Name: "Panodil", Form: "filmovertrukne tabletter", Strength: "500 mg", ATCCode: "N02BE01"},
		Dosage:     Dosage{Text: "2 tabletter 3 gange daglig"},
		Indication: Indication{Code: "4", Text: "mod smerter"},
		BeginDate:  "2026-03-01",
		EndDate:    "2026-06-30",
	}
}

// mustCreate creates a drug medication and fails the test on error.
func mustCreate(t *testing.T, s *Service, caller Caller, messageID string, req CreateDrugMedicationRequest) *WriteResult {
	t.Helper()
	res, err := s.Change(context.Background(), Call{Caller: caller, MessageID: messageID}, req)
	if err != nil {
		t.Fatalf("CreateDrugMedication(%s) = %v, want nil error", messageID, err)
	}
	return res
}

// wantFault fails the test unless err carries fault f.
func wantFault(t *testing.T, what string, err error, f Fault) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s = nil error, want fault %s", what, f.ID)
	}
	if got := FaultOf(err); got != f {
		t.Fatalf("%s = %v (fault %v), want fault %v", what, err, got, f)
	}
}

// wantUnchanged fails the test if m differs from before.
func wantUnchanged(t *testing.T, m *memStore, before memSnapshot) {
	t.Helper()
	if diff := cmp.Diff(before, m.snapshot()); diff != "" {
		t.Errorf("store changed (-before +after):\n%s", diff)
	}
}

func TestIdempotentResend(t *testing.T) {
	s, m := newTestService(t)
	req := validRequest(testPerson)
	first := mustCreate(t, s, doctor, "m1", req)
	if first.Replayed {
		t.Errorf("first CreateDrugMedication: Replayed = true, want false")
	}
	for i := range 4 {
		got := mustCreate(t, s, doctor, "m1", req)
		want := *first
		want.Replayed = true
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("resend %d: WriteResult mismatch (-want +got):\n%s", i+1, diff)
		}
	}
	card := m.storedCard(t, testPerson)
	if card.Version != 1 || len(card.DrugMedications) != 1 {
		t.Errorf("after 5 sends: card version %d with %d items, want version 1 with 1 item", card.Version, len(card.DrugMedications))
	}
	if n := m.outcomeCount(); n != 1 {
		t.Errorf("outcomes stored = %d, want 1", n)
	}
	if n := len(m.auditRows()); n != 1 {
		t.Errorf("audit rows = %d, want 1", n)
	}
}

// TestResendAnswersStoredOutcome checks that a resend gets what the first
// request was answered, warnings included, even after the card moved on.
func TestResendAnswersStoredOutcome(t *testing.T) {
	s, m := newTestService(t)
	mustCreate(t, s, doctor, "m1", validRequest(testPerson))
	req := validRequest(testPerson) // based on version 0: earns a warning
	first := mustCreate(t, s, doctor, "m2", req)
	mustCreate(t, s, doctor, "m3", validRequest(testPerson))

	got := mustCreate(t, s, doctor, "m2", req)
	want := &WriteResult{
		CardVersion: 2,
		Items:       []ItemVersion{{ItemDrugMedication, 2, 1}},
		Warnings:    first.Warnings,
		Replayed:    true,
	}
	if len(first.Warnings) != 1 {
		t.Fatalf("first m2: Warnings = %v, want one VersionMismatchWarning", first.Warnings)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resend of m2 (-want +got):\n%s", diff)
	}
	if v := m.storedCard(t, testPerson).Version; v != 3 {
		t.Errorf("card version = %d, want 3", v)
	}
}

func TestMessageIDReused(t *testing.T) {
	changed := func(f func(*CreateDrugMedicationRequest)) CreateDrugMedicationRequest {
		r := validRequest(testPerson)
		f(&r)
		return r
	}
	tests := []struct {
		name string
		req  CreateDrugMedicationRequest
	}{
		{"other drug name", changed(func(r *CreateDrugMedicationRequest) { r.Drug.Name = "Pamol" })},
		{"other dosage", changed(func(r *CreateDrugMedicationRequest) { r.Dosage.Text = "1 tablet" })},
		{"other based-on version", changed(func(r *CreateDrugMedicationRequest) { r.BasedOnCardVersion = 1 })},
		{"other end date", changed(func(r *CreateDrugMedicationRequest) { r.EndDate = "" })},
		{"other person", validRequest(otherPerson)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newTestService(t)
			mustCreate(t, s, doctor, "m1", validRequest(testPerson))
			before := m.snapshot()
			res, err := s.Change(context.Background(), Call{Caller: doctor, MessageID: "m1"}, tt.req)
			wantFault(t, "CreateDrugMedication(reused MessageID)", err, FaultMessageIDReused)
			if res != nil {
				t.Errorf("CreateDrugMedication(reused MessageID) result = %+v, want nil", res)
			}
			if FaultOf(err).Code != CodeConflict {
				t.Errorf("FaultMessageIDReused code = %v, want %v", FaultOf(err).Code, CodeConflict)
			}
			for _, p := range []string{testPerson, otherPerson} {
				if strings.Contains(err.Error(), p) {
					t.Errorf("error %q contains a person identifier", err)
				}
			}
			wantUnchanged(t, m, before)
		})
	}
}

func TestSameMessageIDFromOtherSystem(t *testing.T) {
	s, m := newTestService(t)
	req := validRequest(testPerson)
	mustCreate(t, s, doctor, "m1", req)
	other := doctor
	other.System = "EPJ-B"
	got := mustCreate(t, s, other, "m1", req)
	want := &WriteResult{
		CardVersion: 2,
		Items:       []ItemVersion{{ItemDrugMedication, 2, 1}},
		Warnings:    []Warning{{Code: WarningVersionMismatch, Message: warningMessage(got)}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateDrugMedication from other system (-want +got):\n%s", diff)
	}
	if n := len(m.storedCard(t, testPerson).DrugMedications); n != 2 {
		t.Errorf("items = %d, want 2", n)
	}
	if n := m.outcomeCount(); n != 2 {
		t.Errorf("outcomes = %d, want 2", n)
	}
}

// warningMessage returns the message of the first warning, so that tests
// compare codes without pinning the wording.
func warningMessage(r *WriteResult) string {
	if len(r.Warnings) == 0 {
		return ""
	}
	return r.Warnings[0].Message
}

func TestMissingMessageID(t *testing.T) {
	s, m := newTestService(t)
	before := m.snapshot()
	_, err := s.Change(context.Background(), Call{Caller: doctor, MessageID: ""}, validRequest(testPerson))
	wantFault(t, `CreateDrugMedication(MessageID "")`, err, FaultMissingMessageID)
	wantUnchanged(t, m, before)
}

func TestRetryAfterLostRaces(t *testing.T) {
	s, m := newTestService(t)
	attempts := 0
	m.beforeCommit = func(w *CardWrite, locked bool) error {
		attempts++
		if attempts <= 2 {
			m.otherWrite(w.Person) // another system commits first
		}
		return nil
	}
	got := mustCreate(t, s, doctor, "m1", validRequest(testPerson))
	want := &WriteResult{
		CardVersion: 3,
		Items:       []ItemVersion{{ItemDrugMedication, 3, 1}},
		Warnings:    []Warning{{Code: WarningVersionMismatch, Message: warningMessage(got)}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateDrugMedication after 2 lost races (-want +got):\n%s", diff)
	}
	if r, w, l := m.calls(); r != 3 || w != 3 || l != 0 {
		t.Errorf("calls: ReadForWrite %d, WriteCard %d, WriteLocked %d; want 3, 3, 0", r, w, l)
	}
	card := m.storedCard(t, testPerson)
	if n := len(card.DrugMedications); n != 3 {
		t.Fatalf("items = %d, want 3", n)
	}
	if dm := card.DrugMedications[2]; dm.ID != 3 || dm.CardVersion != 3 || dm.Drug.Name != "Panodil" {
		t.Errorf("our item = ID %d, CardVersion %d, %q; want 3, 3, Panodil", dm.ID, dm.CardVersion, dm.Drug.Name)
	}
}

func TestRetryFallsBackToLockedWrite(t *testing.T) {
	s, m := newTestService(t)
	m.beforeCommit = func(w *CardWrite, locked bool) error {
		if !locked {
			m.otherWrite(w.Person)
		}
		return nil
	}
	got := mustCreate(t, s, doctor, "m1", validRequest(testPerson))
	if got.CardVersion != 4 {
		t.Errorf("CardVersion = %d, want 4 (3 lost races, then ours)", got.CardVersion)
	}
	if diff := cmp.Diff([]ItemVersion{{ItemDrugMedication, 4, 1}}, got.Items); diff != "" {
		t.Errorf("Items (-want +got):\n%s", diff)
	}
	if r, w, l := m.calls(); r != 3 || w != 3 || l != 1 {
		t.Errorf("calls: ReadForWrite %d, WriteCard %d, WriteLocked %d; want 3, 3, 1", r, w, l)
	}
	if v := m.storedCard(t, testPerson).Version; v != 4 {
		t.Errorf("stored card version = %d, want 4", v)
	}
	if n := m.outcomeCount(); n != 1 {
		t.Errorf("outcomes = %d, want 1", n)
	}
}

// TestLockedWriteLosesToCreation covers the one race WriteLocked can lose:
// the card did not exist when it was read and another writer created it.
func TestLockedWriteLosesToCreation(t *testing.T) {
	s, m := newTestService(t)
	created := false
	m.beforeCommit = func(w *CardWrite, locked bool) error {
		if !locked {
			return ErrLostRace
		}
		if !created && w.BaseVersion == 0 {
			created = true
			m.otherWrite(w.Person)
		}
		return nil
	}
	got := mustCreate(t, s, doctor, "m1", validRequest(testPerson))
	if got.CardVersion != 2 || len(got.Items) != 1 || got.Items[0].ID != 2 {
		t.Errorf("result = %+v, want card version 2 and item 2", got)
	}
	if _, _, l := m.calls(); l != 2 {
		t.Errorf("WriteLocked calls = %d, want 2", l)
	}
}

func TestCardBusy(t *testing.T) {
	s, m := newTestService(t)
	m.beforeCommit = func(*CardWrite, bool) error { return ErrLostRace }
	before := m.snapshot()
	res, err := s.Change(context.Background(), Call{Caller: doctor, MessageID: "m1"}, validRequest(testPerson))
	wantFault(t, "CreateDrugMedication(always losing)", err, FaultCardBusy)
	if res != nil {
		t.Errorf("result = %+v, want nil", res)
	}
	if c := FaultOf(err).Code; c != CodeUnavailable {
		t.Errorf("FaultCardBusy code = %v, want %v", c, CodeUnavailable)
	}
	if _, w, l := m.calls(); w != 3 || l != 3 {
		t.Errorf("calls: WriteCard %d, WriteLocked %d; want 3, 3", w, l)
	}
	wantUnchanged(t, m, before)
}

// TestStoreErrorIsReturned checks that a store failure other than a lost
// race is answered at once, not retried.
func TestStoreErrorIsReturned(t *testing.T) {
	s, m := newTestService(t)
	down := WrapError(FaultOutcomeUnknown, errors.New("connection reset"), "the outcome of the write is unknown")
	m.beforeCommit = func(*CardWrite, bool) error { return down }
	_, err := s.Change(context.Background(), Call{Caller: doctor, MessageID: "m1"}, validRequest(testPerson))
	wantFault(t, "CreateDrugMedication(store failing)", err, FaultOutcomeUnknown)
	if _, w, l := m.calls(); w != 1 || l != 0 {
		t.Errorf("calls: WriteCard %d, WriteLocked %d; want 1, 0", w, l)
	}
}

func TestLockedStoreErrorIsReturned(t *testing.T) {
	s, m := newTestService(t)
	down := WrapError(FaultUnavailable, errors.New("connection refused"), "the card's database is unavailable")
	m.beforeCommit = func(_ *CardWrite, locked bool) error {
		if locked {
			return down
		}
		return ErrLostRace
	}
	_, err := s.Change(context.Background(), Call{Caller: doctor, MessageID: "m1"}, validRequest(testPerson))
	wantFault(t, "CreateDrugMedication(locked write failing)", err, FaultUnavailable)
	if _, w, l := m.calls(); w != 3 || l != 1 {
		t.Errorf("calls: WriteCard %d, WriteLocked %d; want 3, 1", w, l)
	}
}

func TestReadErrorIsReturned(t *testing.T) {
	s, m := newTestService(t)
	down := WrapError(FaultUnavailable, errors.New("connection refused"), "the card's database is unavailable")
	m.readErr = down
	if _, err := s.Change(context.Background(), Call{Caller: doctor, MessageID: "m1"}, validRequest(testPerson)); !errors.Is(err, down) {
		t.Errorf("CreateDrugMedication(read failing) = %v, want %v", err, down)
	}
	if _, err := s.GetMedicineCard(context.Background(), Call{Caller: doctor, MessageID: "r1"}, CardQuery{PersonID: testPerson}); !errors.Is(err, down) {
		t.Errorf("GetMedicineCard(read failing) = %v, want %v", err, down)
	}
	if r, w, l := m.calls(); r != 1 || w != 0 || l != 0 {
		t.Errorf("calls: ReadForWrite %d, WriteCard %d, WriteLocked %d; want 1, 0, 0", r, w, l)
	}
}

// TestConcurrentResendCommittedFirst covers losing the race to a resend of
// the same request: the retry answers the stored outcome.
func TestConcurrentResendCommittedFirst(t *testing.T) {
	s, m := newTestService(t)
	twin := false
	m.beforeCommit = func(w *CardWrite, locked bool) error {
		if !twin {
			twin = true
			return m.applyMu(w) // the resend computed the same write and committed it
		}
		return nil
	}
	got := mustCreate(t, s, doctor, "m1", validRequest(testPerson))
	want := &WriteResult{CardVersion: 1, Items: []ItemVersion{{ItemDrugMedication, 1, 1}}, Replayed: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateDrugMedication losing to its resend (-want +got):\n%s", diff)
	}
	if v := m.storedCard(t, testPerson).Version; v != 1 {
		t.Errorf("card version = %d, want 1", v)
	}
}

func TestConcurrentCreates(t *testing.T) {
	s, m := newTestService(t)
	const n = 16
	results := make([]*WriteResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.Change(context.Background(), Call{Caller: doctor, MessageID: fmt.Sprintf("m%d", i)}, validRequest(testPerson))
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("CreateDrugMedication(m%d) = %v, want nil error", i, errs[i])
		}
		v := results[i].CardVersion
		if seen[v] || v < 1 || v > n {
			t.Errorf("CreateDrugMedication(m%d): CardVersion %d duplicate or out of 1..%d", i, v, n)
		}
		seen[v] = true
	}
	card := m.storedCard(t, testPerson)
	if card.Version != n || len(card.DrugMedications) != n {
		t.Fatalf("card version %d with %d items, want %d and %d", card.Version, len(card.DrugMedications), n, n)
	}
	for i, dm := range card.DrugMedications {
		if dm.ID != int64(i+1) || dm.CardVersion != int64(i+1) {
			t.Errorf("item %d: ID %d, CardVersion %d; want %d, %d", i, dm.ID, dm.CardVersion, i+1, i+1)
		}
	}
}

func TestConcurrentResends(t *testing.T) {
	s, m := newTestService(t)
	const n = 8
	results := make([]*WriteResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.Change(context.Background(), Call{Caller: doctor, MessageID: "m1"}, validRequest(testPerson))
		})
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("send %d = %v, want nil error", i, errs[i])
		}
		if !results[i].Replayed {
			fresh++
		}
		want := &WriteResult{CardVersion: 1, Items: []ItemVersion{{ItemDrugMedication, 1, 1}}, Replayed: results[i].Replayed}
		if diff := cmp.Diff(want, results[i]); diff != "" {
			t.Errorf("send %d (-want +got):\n%s", i, diff)
		}
	}
	if fresh != 1 {
		t.Errorf("answers not replayed = %d, want 1", fresh)
	}
	if v := m.storedCard(t, testPerson).Version; v != 1 {
		t.Errorf("card version = %d, want 1", v)
	}
}

// allFaults lists the whole catalogue of errors.go; a fault added there
// belongs here too.
var allFaults = []Fault{
	FaultMalformedMessage, FaultMessageTooLarge, FaultUnknownOperation, FaultMustUnderstand,
	FaultVersionMismatch, FaultMissingMessageID, FaultRequiredField, FaultInvalidField,
	FaultInvalidPersonID, FaultInvalidCardVersion,
	FaultMessageIDReused,
	FaultNotAuthenticated, FaultRoleNotAllowed, FaultPasswordTextNeedsTLS, FaultAccessRestricted,
	FaultCardBusy, FaultUnavailable, FaultOutcomeUnknown,
	FaultInternal,
}

func TestFaultCatalogue(t *testing.T) {
	codes := map[Code]bool{CodeInvalid: true, CodeNotFound: true, CodeConflict: true,
		CodeUnauthorized: true, CodeUnavailable: true, CodeInternal: true}
	ids := map[string]bool{}
	for _, f := range allFaults {
		if f.ID == "" {
			t.Errorf("fault %+v has an empty ID", f)
		}
		if ids[f.ID] {
			t.Errorf("fault ID %q is used twice", f.ID)
		}
		ids[f.ID] = true
		if !codes[f.Code] {
			t.Errorf("fault %q has unknown code %q", f.ID, f.Code)
		}
	}
	wantCodes := map[Fault]Code{
		FaultMissingMessageID:   CodeInvalid,
		FaultInvalidPersonID:    CodeInvalid,
		FaultInvalidCardVersion: CodeInvalid,
		FaultMessageIDReused:    CodeConflict,
		FaultRoleNotAllowed:     CodeUnauthorized,
		FaultCardBusy:           CodeUnavailable,
		FaultOutcomeUnknown:     CodeUnavailable,
		FaultInternal:           CodeInternal,
	}
	for f, c := range wantCodes {
		if f.Code != c {
			t.Errorf("fault %q code = %q, want %q", f.ID, f.Code, c)
		}
	}
}

func TestErrorHelpers(t *testing.T) {
	secret := errors.New("dial tcp 10.0.0.7:5432: person 0101801234")
	wrapped := WrapError(FaultUnavailable, secret, "the card's database is unavailable")
	outer := fmt.Errorf("read card: %w", wrapped)

	tests := []struct {
		name        string
		err         error
		wantFault   Fault
		wantMessage string
	}{
		{"plain error", secret, FaultInternal, "internal error"},
		{"fmt wrapped plain error", fmt.Errorf("x: %w", secret), FaultInternal, "internal error"},
		{"ErrLostRace", ErrLostRace, FaultInternal, "internal error"},
		{"Errorf", Errorf(FaultInvalidField, "%s is bad", "BeginDate"), FaultInvalidField, "BeginDate is bad"},
		{"WrapError", wrapped, FaultUnavailable, "the card's database is unavailable"},
		{"WrapError inside fmt.Errorf", outer, FaultUnavailable, "the card's database is unavailable"},
		{"outermost *Error wins", WrapError(FaultOutcomeUnknown, wrapped, "unknown"), FaultOutcomeUnknown, "unknown"},
	}
	for _, tt := range tests {
		if got := FaultOf(tt.err); got != tt.wantFault {
			t.Errorf("%s: FaultOf(%v) = %v, want %v", tt.name, tt.err, got, tt.wantFault)
		}
		got := MessageOf(tt.err)
		if got != tt.wantMessage {
			t.Errorf("%s: MessageOf(%v) = %q, want %q", tt.name, tt.err, got, tt.wantMessage)
		}
		if strings.Contains(got, "0101801234") || strings.Contains(got, "10.0.0.7") {
			t.Errorf("%s: MessageOf(%v) = %q leaks the cause", tt.name, tt.err, got)
		}
	}

	if !errors.Is(outer, secret) {
		t.Errorf("errors.Is(%v, cause) = false, want true", outer)
	}
	if !errors.Is(WrapError(FaultCardBusy, ErrLostRace, "busy"), ErrLostRace) {
		t.Errorf("errors.Is(WrapError(..., ErrLostRace, ...), ErrLostRace) = false, want true")
	}
	var e *Error
	if !errors.As(outer, &e) || e != wrapped || e.Err != secret {
		t.Errorf("errors.As(%v, *Error) = %v, want the wrapped *Error with its cause", outer, e)
	}
	if got, want := Errorf(FaultInvalidField, "bad").Error(), "InvalidFieldValue: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := WrapError(FaultInternal, errors.New("boom"), "hash").Error(), "InternalError: hash: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
