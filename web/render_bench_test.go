package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/web/account"
)

// The UI's own CPU per page, without storage: a signed-in session and a
// card service that answer from memory. make bench-ui measures the pages
// over the whole gateway; these say what the rendering costs of it.

type benchAccounts struct{ sess *account.Session }

func (a benchAccounts) SignIn(context.Context, string, string) (*account.Session, error) {
	return a.sess, nil
}
func (a benchAccounts) Session(context.Context, string) (*account.Session, error) { return a.sess, nil }
func (a benchAccounts) SignOut(context.Context, string) error                     { return nil }

type benchCards struct {
	card  *medcard.Card
	inbox []medcard.InboxEntry
}

func (c benchCards) GetMedicineCard(context.Context, medcard.Call, medcard.CardQuery) (*medcard.Card, error) {
	copied := *c.card
	return &copied, nil
}
func (c benchCards) Change(context.Context, medcard.Call, medcard.ChangeRequest) (*medcard.WriteResult, error) {
	return nil, medcard.Errorf(medcard.FaultUnavailable, "not in this benchmark")
}
func (c benchCards) GetAccessLog(context.Context, medcard.Call, medcard.AccessLogQuery) (*medcard.AccessLogPage, error) {
	return &medcard.AccessLogPage{}, nil
}
func (c benchCards) GetNewOrders(context.Context, medcard.Call, medcard.InboxQuery) ([]medcard.InboxEntry, error) {
	return c.inbox, nil
}

// benchUI is the UI over benchAccounts and benchCards: a card of 5 drug
// medications and 5 prescriptions (one ordered by this pharmacy), and an
// inbox of a full page of orders.
func benchUI(b *testing.B) (http.Handler, *account.Session) {
	sess := &account.Session{Token: "bench-session", CSRF: "bench-csrf-token-0123456789",
		User: account.User{Name: "pia", Organisation: "SOR:652341000016003", Role: medcard.RolePharmacist}}
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	card := &medcard.Card{PersonID: "0101701234", Version: 42}
	for i := range 5 {
		id := int64(i + 1)
		drug := medcard.Drug{Name: fmt.Sprintf("Pinex %d", i), Strength: "500 mg", Form: "tabletter"}
		card.DrugMedications = append(card.DrugMedications, medcard.DrugMedication{ID: id, Drug: drug,
			Status: medcard.DrugMedicationActive, BeginDate: "2026-01-01"})
		card.Prescriptions = append(card.Prescriptions, medcard.Prescription{ID: 100 + id, DrugMedicationID: id, Drug: drug,
			PackageNumber: "043298", PackageQuantity: 2, Iterations: 2, ValidFrom: "2026-01-01", ValidTo: "2027-01-01",
			Status: medcard.PrescriptionOpen})
	}
	card.Orders = []medcard.Order{{ID: 500, PrescriptionID: 101, Pharmacy: sess.User.Organisation, Status: medcard.OrderOpen}}
	var inbox []medcard.InboxEntry
	for i := range inboxPage {
		inbox = append(inbox, medcard.InboxEntry{Person: medcard.PersonID(fmt.Sprintf("01017%05d", i)), OrderID: int64(1000 + i),
			Status: medcard.OrderOpen, Pharmacy: sess.User.Organisation, OrderedAt: at.Add(time.Duration(i) * time.Minute),
			Drug: medcard.Drug{Name: "Pinex", Strength: "500 mg"}, PackageNumber: "043298", PackageQuantity: 2, CardVersion: int64(i + 3)})
	}
	h, err := New(Config{Accounts: benchAccounts{sess}, Cards: benchCards{card: card, inbox: inbox}})
	if err != nil {
		b.Fatal(err)
	}
	return h, sess
}

func servePage(b *testing.B, h http.Handler, newRequest func() *http.Request) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newRequest())
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %.300s", w.Code, w.Body.String())
	}
	return w.Body.Len()
}

// benchPage serves the page newRequest asks for, over and over, and
// reports its size.
func benchPage(b *testing.B, h http.Handler, newRequest func() *http.Request) {
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		size = servePage(b, h, newRequest)
	}
	b.ReportMetric(float64(size), "bytes/page")
}

// BenchmarkInboxPage renders the inbox of 100 orders.
func BenchmarkInboxPage(b *testing.B) {
	h, sess := benchUI(b)
	newRequest := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, Path+"/inbox", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess.Token})
		return r
	}
	benchPage(b, h, newRequest)
}

// BenchmarkCardPage renders a card of 5 drug medications and 5
// prescriptions.
func BenchmarkCardPage(b *testing.B) {
	h, sess := benchUI(b)
	form := url.Values{"csrf": {sess.CSRF}, "cpr": {"0101701234"}}.Encode()
	newRequest := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, Path+"/card", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess.Token})
		return r
	}
	benchPage(b, h, newRequest)
}
