package loadgen

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/soapclient"
)

// Namespaces of the fake's answers.
const (
	nsMedcard = soapclient.Namespace
	nsEnv11   = soapclient.NamespaceSOAP11
	nsEnv12   = soapclient.NamespaceSOAP12
)

// fakeGateway is a stand-in for the gateway that keeps just enough state
// per person to answer the generator's operations as the real one would,
// and to catch a generator that sends what the real one would refuse: a
// card version newer than the card, a bad password digest, the wrong
// role, a pause of an item that is not active, an order on an order.
type fakeGateway struct {
	t      testing.TB
	soap12 bool
	// delay, if set, is how long to take over a request received at t.
	delay func(t time.Time) time.Duration

	mu       sync.Mutex
	cards    map[string]*fakeCard
	ops      map[string]int    // requests by operation
	persons  map[string]int    // requests by person
	received []time.Time       // arrival of every request
	faults   map[string]int    // faults answered, by identifier
	problems map[string]int    // protocol mistakes of the generator
	forced   map[string]string // op -> fault identifier to answer with
	// cardReads counts GetMedicineCard requests by their
	// IncludePrescriptions ("" when absent).
	cardReads map[string]int
	systems   map[string]fakeIdent // accepted systems
}

type fakeIdent struct{ secret, role string }

type fakeCard struct {
	version int64
	nextID  int64
	dms     map[int64]string // id -> status
	rxLeft  map[int64]int    // prescription -> dispensings left
	orders  map[int64]string // order -> status
	orderRx map[int64]int64
}

func newFakeGateway(t testing.TB) (*fakeGateway, *httptest.Server) {
	f := &fakeGateway{t: t, cards: map[string]*fakeCard{}, ops: map[string]int{}, persons: map[string]int{},
		faults: map[string]int{}, problems: map[string]int{}, forced: map[string]string{}, cardReads: map[string]int{},
		systems: map[string]fakeIdent{
			DefaultDoctor.System:   {DefaultDoctor.Secret, "Doctor"},
			DefaultPharmacy.System: {DefaultPharmacy.Secret, "Pharmacist"},
		}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// request is the fields of a request envelope by local name (the first
// occurrence of each), and its wrapper element.
type request struct {
	op     string
	ns     string
	fields map[string]string
	pwType string
}

func readRequest(body []byte) (request, error) {
	r := request{fields: map[string]string{}}
	d := xml.NewDecoder(bytes.NewReader(body))
	var stack []string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return r, nil
		}
		if err != nil {
			return r, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				r.ns = t.Name.Space
			}
			if len(stack) == 2 && stack[1] == "Body" {
				r.op = strings.TrimSuffix(t.Name.Local, "Request")
			}
			if t.Name.Local == "Password" {
				for _, a := range t.Attr {
					if a.Name.Local == "Type" {
						r.pwType = a.Value[strings.IndexByte(a.Value, '#')+1:]
					}
				}
			}
			stack = append(stack, t.Name.Local)
			text.Reset()
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			name := stack[len(stack)-1]
			if _, ok := r.fields[name]; !ok {
				r.fields[name] = text.String()
			}
			stack = stack[:len(stack)-1]
			text.Reset()
		}
	}
}

func (f *fakeGateway) problem(format string, args ...any) {
	f.problems[fmt.Sprintf(format, args...)]++
}

func (f *fakeGateway) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	arrived := time.Now()
	body, _ := io.ReadAll(hr.Body)
	req, err := readRequest(body)
	f.mu.Lock()
	f.received = append(f.received, arrived)
	resp, fault := f.answer(hr, req, err)
	f.mu.Unlock()
	if f.delay != nil {
		time.Sleep(f.delay(arrived))
	}
	ct := "text/xml; charset=utf-8"
	envNS := nsEnv11
	if f.soap12 {
		ct, envNS = "application/soap+xml; charset=utf-8", nsEnv12
	}
	w.Header().Set("Content-Type", ct)
	if fault != "" {
		w.WriteHeader(http.StatusInternalServerError)
		detail := `<mc:MedicineCardFault xmlns:mc="` + nsMedcard + `"><mc:FaultIdentifier>` + fault +
			`</mc:FaultIdentifier><mc:Code>conflict</mc:Code><mc:Message>no</mc:Message><mc:Retryable>false</mc:Retryable><mc:RequestIdentifier>r1</mc:RequestIdentifier></mc:MedicineCardFault>`
		if f.soap12 {
			fmt.Fprintf(w, `<?xml version="1.0"?><env:Envelope xmlns:env="%s" xmlns:mc="%s"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>mc:%s</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">no</env:Text></env:Reason><env:Detail>%s</env:Detail></env:Fault></env:Body></env:Envelope>`,
				envNS, nsMedcard, fault, detail)
		} else {
			fmt.Fprintf(w, `<?xml version="1.0"?><soap:Envelope xmlns:soap="%s"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>no</faultstring><detail>%s</detail></soap:Fault></soap:Body></soap:Envelope>`,
				envNS, detail)
		}
		return
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="%s"><e:Body>%s</e:Body></e:Envelope>`, envNS, resp)
}

// answer returns the response body element, or a fault identifier.
func (f *fakeGateway) answer(hr *http.Request, req request, err error) (string, string) {
	if err != nil {
		f.problem("unparsable request: %v", err)
		return "", "MalformedMessage"
	}
	wantNS, wantCT := nsEnv11, "text/xml"
	if f.soap12 {
		wantNS, wantCT = nsEnv12, "application/soap+xml"
	}
	if req.ns != wantNS || !strings.HasPrefix(hr.Header.Get("Content-Type"), wantCT) {
		f.problem("envelope %s with Content-Type %s", req.ns, hr.Header.Get("Content-Type"))
	}
	f.ops[req.op]++
	if req.op == "GetMedicineCard" {
		f.cardReads[req.fields["IncludePrescriptions"]]++
	}
	person := req.fields["PersonIdentifier"]
	f.persons[person]++
	if id := f.authenticate(req); id != "" {
		f.problem("not authenticated: %s", id)
		return "", "NotAuthenticated"
	}
	if forced := f.forced[req.op]; forced != "" {
		f.faults[forced]++
		return "", forced
	}
	c := f.cards[person]
	if c == nil {
		c = &fakeCard{version: 3, nextID: 10, dms: map[int64]string{1: "Active", 2: "Paused"},
			rxLeft: map[int64]int{}, orders: map[int64]string{}, orderRx: map[int64]int64{}}
		f.cards[person] = c
	}
	fault := func(id string) (string, string) { f.faults[id]++; return "", id }
	if v, ok := req.fields["MedicineCardVersion"]; ok {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n > c.version {
			f.problem("%s based on version %d of a card at %d", req.op, n, c.version)
			return fault("InvalidMedicineCardVersion")
		}
	}
	field := func(name string) int64 { n, _ := strconv.ParseInt(req.fields[name], 10, 64); return n }
	write := func(items ...string) (string, string) {
		c.version++
		return fmt.Sprintf(`<m:%sResponse xmlns:m="%s"><m:MedicineCardVersion>%d</m:MedicineCardVersion>%s<m:Warning><m:Code>VersionMismatchWarning</m:Code><m:Message>merged</m:Message></m:Warning></m:%sResponse>`,
			req.op, nsMedcard, c.version, strings.Join(items, ""), req.op), ""
	}
	newItem := func(kind string) (int64, string) {
		c.nextID++
		return c.nextID, fmt.Sprintf(`<m:Item><m:Type>%s</m:Type><m:Identifier>%d</m:Identifier><m:Version>1</m:Version></m:Item>`, kind, c.nextID)
	}
	switch req.op {
	case "GetMedicineCard":
		var dms strings.Builder
		for id, st := range c.dms {
			fmt.Fprintf(&dms, `<DrugMedication><Identifier>%d</Identifier><Version>1</Version><ChangedInCardVersion>1</ChangedInCardVersion><Status>%s</Status></DrugMedication>`, id, st)
		}
		return fmt.Sprintf(`<GetMedicineCardResponse xmlns="%s"><MedicineCard><PersonIdentifier>%s</PersonIdentifier><MedicineCardVersion>%d</MedicineCardVersion><NeedsAttention>false</NeedsAttention><Reviewed><MedicineCardVersion>1</MedicineCardVersion></Reviewed>%s</MedicineCard></GetMedicineCardResponse>`,
			nsMedcard, person, c.version, dms.String()), ""
	case "GetPrescription":
		return fmt.Sprintf(`<GetPrescriptionResponse xmlns="%s"><MedicineCardVersion>%d</MedicineCardVersion></GetPrescriptionResponse>`, nsMedcard, c.version), ""
	case "CreateDrugMedication":
		id, it := newItem("DrugMedication")
		c.dms[id] = "Active"
		c.version++
		return fmt.Sprintf(`<CreateDrugMedicationResponse xmlns="%s"><MedicineCardVersion>%d</MedicineCardVersion><DrugMedicationIdentifier>%d</DrugMedicationIdentifier><DrugMedicationVersion>1</DrugMedicationVersion>%s</CreateDrugMedicationResponse>`,
			nsMedcard, c.version, id, strings.ReplaceAll(it, "m:", "")), ""
	case "PauseDrugMedication":
		id := field("DrugMedicationIdentifier")
		if c.dms[id] != "Active" {
			return fault("StatusTransitionNotAllowed")
		}
		c.dms[id] = "Paused"
		return write()
	case "CreatePrescription":
		id, it := newItem("Prescription")
		c.rxLeft[id] = 1 + rxIterations
		return write(it)
	case "CreateOrder":
		rx := field("PrescriptionIdentifier")
		if c.rxLeft[rx] <= 0 {
			f.problem("order on prescription %d with no dispensings left", rx)
			return fault("PrescriptionNotOpen")
		}
		for o, st := range c.orders {
			if c.orderRx[o] == rx && (st == "Open" || st == "InProgress") {
				f.problem("second open order on prescription %d", rx)
				return fault("OpenOrderExists")
			}
		}
		id, it := newItem("Order")
		c.orders[id], c.orderRx[id] = "Open", rx
		return write(it)
	case "StartEffectuation":
		o := field("OrderIdentifier")
		if c.orders[o] != "Open" {
			f.problem("start of order %d in state %q", o, c.orders[o])
			return fault("StatusTransitionNotAllowed")
		}
		c.orders[o] = "InProgress"
		return write()
	case "CreatePharmacyEffectuation":
		o := field("OrderIdentifier")
		if c.orders[o] != "InProgress" || req.fields["PackagesDispensed"] != "1" {
			f.problem("effectuation of order %d in state %q", o, c.orders[o])
			return fault("EffectuationNotStarted")
		}
		c.orders[o] = "Completed"
		c.rxLeft[c.orderRx[o]]--
		_, it := newItem("Effectuation")
		return write(it)
	}
	f.problem("unknown operation %q", req.op)
	return fault("UnknownOperation")
}

// authenticate checks the UsernameToken and the requested role; it
// returns what is wrong, or "".
func (f *fakeGateway) authenticate(req request) string {
	user := req.fields["Username"]
	id, ok := f.systems[user]
	if !ok || req.fields["SystemName"] != user {
		return "unknown system " + user
	}
	switch req.pwType {
	case "PasswordText":
		if req.fields["Password"] != id.secret {
			return "wrong password"
		}
	case "PasswordDigest":
		nonce, err := base64.StdEncoding.DecodeString(req.fields["Nonce"])
		if err != nil || len(nonce) < 8 {
			return "bad nonce"
		}
		created, err := time.Parse(time.RFC3339Nano, req.fields["Created"])
		if err != nil || time.Since(created).Abs() > time.Minute {
			return "bad Created"
		}
		sum := sha1.Sum([]byte(string(nonce) + req.fields["Created"] + id.secret))
		if req.fields["Password"] != base64.StdEncoding.EncodeToString(sum[:]) {
			return "wrong digest"
		}
	default:
		return "password type " + req.pwType
	}
	if req.fields["RequestedRole"] != id.role {
		return "role " + req.fields["RequestedRole"]
	}
	pharmacyOp := req.op == "CreateOrder" || req.op == "StartEffectuation" || req.op == "CreatePharmacyEffectuation"
	if pharmacyOp != (id.role == "Pharmacist") && req.op != "GetMedicineCard" {
		return req.op + " as " + id.role
	}
	if req.fields["MessageID"] == "" {
		return "no MessageID"
	}
	return ""
}

// snapshot returns copies of the counters.
func (f *fakeGateway) snapshot() (ops, persons, problems map[string]int, received []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(f.ops), cp(f.persons), cp(f.problems), append([]time.Time(nil), f.received...)
}
