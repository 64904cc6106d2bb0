package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/internal/wsdlclient"
	"github.com/sharedmedcard/gateway/loadgen"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/soap"
	"github.com/sharedmedcard/gateway/web"
	"github.com/sharedmedcard/gateway/web/account"
)

// TestDemoPharmacistSignsIn: after the steps of `make run` (seed adds the
// demo pharmacist) the gateway serves the UI beside SOAP, at the address
// the demo banner prints, and the banner's credentials sign in.
func TestDemoPharmacistSignsIn(t *testing.T) {
	e := requireEnv(t)
	base := uiURL(e.endpoint)
	if !strings.HasSuffix(base, web.Path+"/") {
		t.Fatalf("uiURL(%s) = %s", e.endpoint, base)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base) // redirected to the sign-in page
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s = %d, want the sign-in form:\n%s", base, resp.StatusCode, page)
	}
	resp, err = c.PostForm(strings.TrimSuffix(base, "/")+"/signin", url.Values{
		"csrf": {string(m[1])}, "user": {seed.DemoPharmacist}, "password": {seed.DemoPharmacistPassword}})
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(home), seed.DemoPharmacy) {
		t.Fatalf("sign-in as the demo pharmacist = %d:\n%s", resp.StatusCode, home)
	}
}

// uiBrowser is a signed-in browser of the demo pharmacist.
type uiBrowser struct {
	t    *testing.T
	c    *http.Client
	base string // .../ui
	csrf string
}

func signedInPharmacist(t *testing.T, e *testEnv) *uiBrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &uiBrowser{t: t, c: &http.Client{Jar: jar}, base: strings.TrimSuffix(uiURL(e.endpoint), "/")}
	_, page := b.get("/signin")
	_, home := b.post("/signin", url.Values{"csrf": {formValue(t, page, "csrf")}, "user": {seed.DemoPharmacist}, "password": {seed.DemoPharmacistPassword}})
	b.csrf = formValue(t, home, "csrf")
	return b
}

func (b *uiBrowser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *uiBrowser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if form.Get("csrf") == "" && b.csrf != "" {
		form.Set("csrf", b.csrf)
	}
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// formValue is the value of the first input named name on the page.
func formValue(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no input %q on the page:\n%s", name, page)
	}
	return m[1]
}

// dispenseForm is the fields of the page's first dispense form.
func dispenseForm(t *testing.T, page string, packages int) url.Values {
	t.Helper()
	i := strings.Index(page, `name="do" value="dispense"`)
	if i < 0 {
		t.Fatalf("no dispense form on the card page:\n%s", page)
	}
	start := strings.LastIndex(page[:i], "<form")
	end := i + strings.Index(page[i:], "</form>")
	form := url.Values{"packages": {fmt.Sprint(packages)}}
	for _, m := range regexp.MustCompile(`type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(page[start:end], -1) {
		form.Set(m[1], m[2])
	}
	return form
}

// TestPharmacistDispensesInTheUI: a pharmacist finds a citizen by CPR,
// sees the prescription, dispenses it in one step (order, start and
// dispensing), sending the same form twice dispenses once, and an order
// held by another pharmacy is refused in the rule's own words.
func TestPharmacistDispensesInTheUI(t *testing.T) {
	e := requireEnv(t)
	f := newFixture(t, false) // a drug medication and a prescription: 2 dispensings of up to 2 packages
	b := signedInPharmacist(t, e)

	status, page := b.post("/card", url.Values{"cpr": {f.person[:6] + "-" + f.person[6:]}})
	if status != http.StatusOK || !strings.Contains(page, "Pinex") || !strings.Contains(page, "2 of 2") {
		t.Fatalf("card page = %d, want the prescription with 2 of 2 dispensings left:\n%s", status, page)
	}
	form := dispenseForm(t, page, 1)
	status, page = b.post("/card/action", form)
	if status != http.StatusOK || !strings.Contains(page, "Dispensed 1 package") || !strings.Contains(page, "1 of 2") {
		t.Fatalf("dispense = %d, want the card with 1 of 2 left:\n%s", status, page)
	}
	// The same form again (a double click): applied once.
	if status, page = b.post("/card/action", form); status != http.StatusOK {
		t.Fatalf("the same dispense form again = %d:\n%s", status, page)
	}
	card := f.card(t).MedicineCard
	if n := len(card.Effectuation); n != 1 {
		t.Fatalf("after one dispensing sent twice the card has %d effectuations, want 1", n)
	}
	if got := card.Effectuation[0].Pharmacy; got != seed.DemoPharmacy {
		t.Errorf("the effectuation is by %q, want the signed-in pharmacist's pharmacy %q", got, seed.DemoPharmacy)
	}
	f.v = card.MedicineCardVersion

	// Another pharmacy orders the prescription: this one's dispensing is
	// refused with the rule's words, and nothing is written.
	f.write(t, otherPharmacist, f.createOrder(f.rx))
	_, page = b.post("/card", url.Values{"cpr": {f.person}})
	if !strings.Contains(page, "SOR:pharmacy-2") {
		t.Errorf("the card page does not say which pharmacy holds the order:\n%s", page)
	}
	status, page = b.post("/card/action", dispenseForm(t, page, 1))
	if status != http.StatusConflict || !strings.Contains(page, "Refused:") || strings.Contains(page, "goroutine") {
		t.Fatalf("dispensing against another pharmacy's order = %d, want 409 with the refusal:\n%s", status, page)
	}
	if m := regexp.MustCompile(`class="error" role="alert">([^<]*)<`).FindStringSubmatch(page); m != nil {
		t.Logf("the refusal shown: %s", m[1])
	}
	if v := f.card(t).MedicineCard.MedicineCardVersion; v != f.v {
		t.Errorf("a refused dispensing changed the card from version %d to %d", f.v, v)
	}

	// A bad CPR number: a clear message, no card.
	if status, page = b.post("/card", url.Values{"cpr": {"3113991234"}}); status != http.StatusBadRequest || !strings.Contains(page, "not a CPR number") {
		t.Errorf("a bad CPR number = %d:\n%s", status, page)
	}
	// Without the session's CSRF token nothing is done.
	form = dispenseForm(t, page2(t, b, f.person), 1)
	form.Set("csrf", "forged")
	if status, _ = b.post("/card/action", form); status != http.StatusForbidden {
		t.Errorf("a dispensing with a forged CSRF token = %d, want 403", status)
	}
	if v := f.card(t).MedicineCard.MedicineCardVersion; v != f.v {
		t.Errorf("a forged form changed the card from version %d to %d", f.v, v)
	}
}

// page2 is the person's card page, read again.
func page2(t *testing.T, b *uiBrowser, person string) string {
	t.Helper()
	_, page := b.post("/card", url.Values{"cpr": {person}})
	return page
}

// TestOrderInboxInTheUI: an order the pharmacy's own system placed over
// SOAP appears in the UI's inbox (read across both shard databases); one of
// another pharmacy does not; dispensed, it leaves the inbox.
func TestOrderInboxInTheUI(t *testing.T) {
	e := requireEnv(t)
	ours := actor{system: "demo-pharmacy", role: "Pharmacist", org: seed.DemoPharmacy}
	mine, theirs := newFixture(t, false), newFixture(t, false)
	mine.order = itemOf(t, mine.write(t, ours, mine.createOrder(mine.rx)), "Order")
	theirs.order = itemOf(t, theirs.write(t, otherPharmacist, theirs.createOrder(theirs.rx)), "Order")
	b := signedInPharmacist(t, e)

	// The same inbox over SOAP, as the pharmacy's own system reads it.
	status, raw := ours.send(t, false, &wsdlclient.GetNewOrdersRequest{})
	var inbox soap.GetNewOrdersResponse
	responseBody(t, status, raw, &inbox)
	var overSOAP []string
	for _, o := range inbox.Order {
		overSOAP = append(overSOAP, o.PersonIdentifier)
		if o.PersonIdentifier == mine.person && (o.OrderIdentifier != mine.order || o.DrugName != "Pinex" || o.Status != "Open") {
			t.Errorf("GetNewOrders answered %+v for the order placed", o)
		}
	}
	if !slices.Contains(overSOAP, mine.person) || slices.Contains(overSOAP, theirs.person) {
		t.Errorf("GetNewOrders over SOAP lists %v: want %s, not %s", overSOAP, mine.person, theirs.person)
	}
	tooMany := int32(medcard.InboxLimit + 1)
	if status, raw := ours.send(t, false, &wsdlclient.GetNewOrdersRequest{MaximumOrders: tooMany}); status == http.StatusOK {
		t.Errorf("GetNewOrders with MaximumOrders %d = %d, want a fault: %.300s", tooMany, status, raw)
	}

	// Acknowledged over SOAP (a resend of the message applies it once;
	// another pharmacy's order is refused on its own line), it leaves
	// GetNewOrders; the UI's inbox still shows it, as seen.
	var version int64
	for _, o := range inbox.Order {
		if o.PersonIdentifier == mine.person {
			version = o.MedicineCardVersion
		}
	}
	pid := func(p string) *wsdlclient.PersonIdentifierType { v := wsdlclient.PersonIdentifierType(p); return &v }
	ack := &wsdlclient.AcknowledgeOrdersRequest{Order: []*wsdlclient.OrderToAcknowledgeType{
		{PersonIdentifier: pid(mine.person), MedicineCardVersion: version, OrderIdentifier: mine.order},
		{PersonIdentifier: pid(theirs.person), MedicineCardVersion: theirs.v, OrderIdentifier: theirs.order},
	}}
	body, err := xml.Marshal(ack)
	if err != nil {
		t.Fatal(err)
	}
	send := call{system: ours.system, role: ours.role, org: ours.org, messageID: soapclient.NewMessageID(), body: string(body)}
	var acked, again soap.AcknowledgeOrdersResponse
	status, raw = send.do(t)
	responseBody(t, status, raw, &acked)
	status, raw = send.do(t)
	responseBody(t, status, raw, &again)
	if len(acked.Result) != 2 || acked.Result[0].Refused != nil || acked.Result[0].MedicineCardVersion == 0 ||
		acked.Result[1].Refused == nil || acked.Result[1].Refused.FaultIdentifier != medcard.FaultOrderOfAnotherPharmacy.ID {
		refused := acked.Result
		if len(refused) == 2 && refused[1].Refused != nil {
			t.Logf("the second refusal: %+v", *refused[1].Refused)
		}
		t.Fatalf("AcknowledgeOrders = %+v, want the first acknowledged and the second refused as another pharmacy's", acked.Result)
	}
	if again.Result[0].MedicineCardVersion != acked.Result[0].MedicineCardVersion {
		t.Errorf("the resent AcknowledgeOrders answered card version %d, the first %d: applied twice", again.Result[0].MedicineCardVersion, acked.Result[0].MedicineCardVersion)
	}
	inbox = soap.GetNewOrdersResponse{}
	status, raw = ours.send(t, false, &wsdlclient.GetNewOrdersRequest{})
	responseBody(t, status, raw, &inbox)
	for _, o := range inbox.Order {
		if o.PersonIdentifier == mine.person {
			t.Errorf("GetNewOrders still lists the acknowledged order of %s", mine.person)
		}
	}

	status, page := b.get("/inbox")
	if status != http.StatusOK || !strings.Contains(page, mine.person) || !strings.Contains(page, "Pinex") {
		t.Fatalf("inbox = %d, want the order of %s:\n%s", status, mine.person, page)
	}
	if strings.Contains(page, theirs.person) {
		t.Errorf("the inbox shows another pharmacy's order (%s)", theirs.person)
	}
	// A new order, acknowledged in the UI.
	fresh := newFixture(t, false)
	fresh.order = itemOf(t, fresh.write(t, ours, fresh.createOrder(fresh.rx)), "Order")
	_, page = b.get("/inbox")
	button := regexp.MustCompile(`form="acknowledge" name="order" value="(` + fresh.person + `:[0-9]+:[0-9]+)"`).FindStringSubmatch(page)
	ackForm := regexp.MustCompile(`<form id="acknowledge"[^>]*>(.*?)</form>`).FindStringSubmatch(page)
	if button == nil || ackForm == nil {
		t.Fatalf("the inbox lacks the new order of %s, or its Acknowledge button:\n%s", fresh.person, page)
	}
	form := url.Values{"order": {button[1]}}
	for _, m := range regexp.MustCompile(`type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(ackForm[1], -1) {
		form.Set(m[1], m[2])
	}
	if status, page = b.post("/inbox/acknowledge", form); status != http.StatusOK || !strings.Contains(page, "Order acknowledged") {
		t.Fatalf("acknowledging in the inbox = %d:\n%s", status, page)
	}
	if ack := fresh.card(t).MedicineCard.Order; len(ack) != 1 || ack[0].Status != "Open" {
		t.Errorf("after acknowledging, the order is %+v", ack)
	}
	// From the inbox to the card, and dispensed there.
	_, card := b.post("/card", url.Values{"cpr": {mine.person}})
	if status, card = b.post("/card/action", dispenseForm(t, card, 2)); status != http.StatusOK || !strings.Contains(card, "Dispensed 2 package") {
		t.Fatalf("dispense from the inbox's order = %d:\n%s", status, card)
	}
	if _, page = b.get("/inbox"); strings.Contains(page, mine.person) {
		t.Errorf("a dispensed order is still in the inbox:\n%s", page)
	}
}

// TestPharmacistSettlesAConflictInTheUI: two SOAP writes based on the same
// card version clash on a dosage; the card page shows both variants with
// who made each, dispensing is refused until it is settled, and keeping
// one settles it.
func TestPharmacistSettlesAConflictInTheUI(t *testing.T) {
	e := requireEnv(t)
	f := newFixture(t, false)
	f.conflicted(t)
	b := signedInPharmacist(t, e)

	_, page := b.post("/card", url.Values{"cpr": {f.person}})
	for _, want := range []string{"Settle the conflict", "3 tabletter daglig", "4 tabletter daglig", "Keep variant 2", "demo-gp"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the card page of a conflicted drug medication lacks %q:\n%s", want, page)
		}
	}
	if status, refused := b.post("/card/action", dispenseForm(t, page, 1)); status != http.StatusConflict || !strings.Contains(refused, "conflict") {
		t.Errorf("dispensing on a conflicted drug medication = %d, want 409 naming the conflict:\n%s", status, refused)
	}
	_, page = b.post("/card", url.Values{"cpr": {f.person}})
	i := strings.Index(page, `name="choice" value="2"`)
	if i < 0 {
		t.Fatalf("no Keep variant 2 button:\n%s", page)
	}
	start := strings.LastIndex(page[:i], "<form")
	form := url.Values{"choice": {"2"}}
	for _, m := range regexp.MustCompile(`type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(page[start:i], -1) {
		form.Set(m[1], m[2])
	}
	status, page := b.post("/card/action", form)
	if status != http.StatusOK || !strings.Contains(page, "Conflict settled") || strings.Contains(page, "Settle the conflict") {
		t.Fatalf("keeping variant 2 = %d:\n%s", status, page)
	}
	dm := f.card(t).MedicineCard.DrugMedication[0]
	if dm.Conflict != nil || !strings.Contains(dm.Dosage.Text, "4 tabletter") {
		t.Errorf("after keeping variant 2 the drug medication is %+v, want the dosage 4 tabletter daglig and no conflict", dm)
	}
}

// TestOrderInboxOverSOAP12: GetNewOrders and AcknowledgeOrders in SOAP
// 1.2, as a pharmacy system on 1.2 calls them: the order is listed and
// acknowledged in a 1.2 envelope, and a request of no orders is a Sender
// fault with its code.
func TestOrderInboxOverSOAP12(t *testing.T) {
	requireEnv(t)
	ours := actor{system: "demo-pharmacy", role: "Pharmacist", org: seed.DemoPharmacy}
	mine := newFixture(t, true)
	mine.order = itemOf(t, mine.write(t, ours, mine.createOrder(mine.rx)), "Order")

	status, raw := ours.send(t, true, &wsdlclient.GetNewOrdersRequest{})
	var inbox soap.GetNewOrdersResponse
	responseBody(t, status, raw, &inbox)
	if !bytes.Contains(raw, []byte(nsEnv12)) {
		t.Fatalf("GetNewOrders in SOAP 1.2 answered another envelope: %.300s", raw)
	}
	var version int64
	for _, o := range inbox.Order {
		if o.PersonIdentifier == mine.person && o.OrderIdentifier == mine.order {
			version = o.MedicineCardVersion
		}
	}
	if version == 0 {
		t.Fatalf("GetNewOrders in SOAP 1.2 lacks the order of %s: %.600s", mine.person, raw)
	}

	pid := wsdlclient.PersonIdentifierType(mine.person)
	status, raw = ours.send(t, true, &wsdlclient.AcknowledgeOrdersRequest{Order: []*wsdlclient.OrderToAcknowledgeType{
		{PersonIdentifier: &pid, MedicineCardVersion: version, OrderIdentifier: mine.order}}})
	var acked soap.AcknowledgeOrdersResponse
	responseBody(t, status, raw, &acked)
	if len(acked.Result) != 1 || acked.Result[0].Refused != nil || acked.Result[0].MedicineCardVersion <= version {
		t.Fatalf("AcknowledgeOrders in SOAP 1.2 = %+v, want the order acknowledged at a newer card version", acked.Result)
	}

	status, raw = ours.send(t, true, &wsdlclient.AcknowledgeOrdersRequest{})
	if got := parseFault(t, raw); status != http.StatusInternalServerError || got.Code != "env:Sender" || got.Identifier != medcard.FaultInvalidField.ID {
		t.Errorf("AcknowledgeOrders of no orders in SOAP 1.2 = %d %s %s, want 500 env:Sender %s; body: %.600s",
			status, got.Code, got.Identifier, medcard.FaultInvalidField.ID, raw)
	}
}

// TestAccessLogInTheUI: the card page leads to the card's access log, which
// lists the doctor's changes and the pharmacist's own look-up (named as the
// signed-in user), newest first; showing the log is itself in the log.
func TestAccessLogInTheUI(t *testing.T) {
	e := requireEnv(t)
	f := newFixture(t, false) // the doctor's CreateDrugMedication and CreatePrescription
	b := signedInPharmacist(t, e)
	if status, page := b.post("/card", url.Values{"cpr": {f.person}}); status != http.StatusOK || !strings.Contains(page, `action="/ui/card/log"`) {
		t.Fatalf("card page = %d, want a way to its access log:\n%s", status, page)
	}
	// Look-ups are audited shortly after they are answered (queued, in
	// batches): wait for the card page's row.
	var page string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var status int
		status, page = b.post("/card/log", url.Values{"cpr": {f.person}})
		if status != http.StatusOK {
			t.Fatalf("access log page = %d:\n%s", status, page)
		}
		if strings.Contains(page, seed.DemoPharmacist+", Pharmacist") || time.Now().After(deadline) {
			break
		}
	}
	rows := regexp.MustCompile(`(?s)<tr[^>]*>\s*<td>[^<]*</td>\s*<td>([A-Za-z]+)[^<]*</td>\s*<td>([^<]*)</td>`).FindAllStringSubmatch(page, -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1]+" by "+strings.TrimSpace(r[2]))
	}
	// The log's own reads (earlier polls) may come first; then the look-up
	// and the two changes, newest first.
	var rest []string
	for _, g := range got {
		if !strings.HasPrefix(g, "GetAccessLog ") {
			rest = append(rest, g)
		}
	}
	want := []string{
		"GetMedicineCard by " + seed.DemoPharmacist + ", Pharmacist of " + seed.DemoPharmacy + " (" + account.UISystem + ")",
		"CreatePrescription by Doctor of " + loadgen.DefaultDoctor.Organisation + " (demo-gp)",
		"CreateDrugMedication by Doctor of " + loadgen.DefaultDoctor.Organisation + " (demo-gp)",
	}
	if strings.Join(rest, "\n") != strings.Join(want, "\n") {
		t.Errorf("the access log lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Showing the log is logged: a later showing lists the earlier one
	// first, once its row is written (queued like every look-up's).
	var newest string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, page = b.post("/card/log", url.Values{"cpr": {f.person}})
		if newest = rows0(page); strings.HasPrefix(newest, "GetAccessLog") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.HasPrefix(newest, "GetAccessLog") {
		t.Errorf("newest entry after showing the log = %q, want the showing (GetAccessLog)", newest)
	}
	// A bad CPR number: a clear message, no log.
	if status, page := b.post("/card/log", url.Values{"cpr": {"3113991234"}}); status != http.StatusBadRequest || !strings.Contains(page, "not a CPR number") {
		t.Errorf("access log of a bad CPR number = %d:\n%s", status, page)
	}
}

// rows0 is the operation cell of a page's first table row.
func rows0(page string) string {
	m := regexp.MustCompile(`(?s)<tbody>\s*<tr[^>]*>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}
