package soap

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"golang.org/x/crypto/argon2"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/soap/envelope"
)

// The fuzz targets of the SOAP edge (`make fuzz` runs each for a while,
// `make test` for a few seconds; plain go test runs their seeds and the
// findings under testdata/fuzz). The wire layer's own targets are in
// soap/envelope. Each checks properties: every refusal is a catalogued
// fault (never InternalError), quoting no person identifier, with nothing
// written; what is accepted reads back the same; a gzip body costs memory
// by the limit, not by what it expands to.

// fuzzLimits keep the fuzzer's documents small and its bombs cheap.
var fuzzLimits = Limits{MaxBytes: 8 << 10, MaxDepth: 32, MaxTokens: 2000}

// fuzzSecret is the secret of fuzzSystems' gp.
const fuzzSecret = "s3cret"

// fuzzSystems knows gp, a system with a readable secret (PasswordDigest)
// and a PasswordText hash, as the catalog keeps them, that may act as a
// doctor or a pharmacist. Its argon2id hash has the smallest parameters
// (CheckPassword reads them from the hash), so that a wrong PasswordText
// costs the fuzzer microseconds, not the production 30 ms.
type fuzzSystems struct{}

var cheapSecretHash = sync.OnceValue(func() string {
	salt := []byte("fuzz-salt-16byte")
	b64 := base64.RawStdEncoding
	key := argon2.IDKey([]byte(fuzzSecret), salt, 1, 8, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=8,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key))
})

func (fuzzSystems) System(_ context.Context, name string) (medcard.System, error) {
	if name != "gp" {
		return medcard.System{}, medcard.Errorf(medcard.FaultNotAuthenticated, "unknown system")
	}
	return medcard.System{Name: "gp", Secret: fuzzSecret, PasswordHash: cheapSecretHash(),
		Roles: []medcard.Role{medcard.RoleDoctor, medcard.RolePharmacist}}, nil
}

// memNonces is a Nonces in a map.
type memNonces struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (n *memNonces) FirstUse(_ context.Context, system, nonce string, _ time.Duration) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := system + "\x00" + nonce
	first := !n.seen[key]
	n.seen[key] = true
	return first, nil
}

// fuzzGoldenBodies are the envelopes of testdata: the body of each .xml
// file, and of each .http file what follows its blank line.
func fuzzGoldenBodies(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue // a directory (testdata/fuzz)
		}
		if strings.HasSuffix(name, ".http") {
			_, body, ok := bytes.Cut(b, []byte("\n\n"))
			if !ok {
				continue
			}
			b = body
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		tb.Fatal("no golden envelopes in testdata")
	}
	return out
}

// sampleRequest is a request value of op with every field set to a value
// its schema type allows: a person identifier, a date, an operation name,
// 1, true, one element of each list.
func sampleRequest(op *operation) any {
	v := reflect.ValueOf(op.newRequest())
	fillSample(v.Elem(), "")
	return v.Interface()
}

func fillSample(v reflect.Value, name string) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillSample(v.Elem(), name)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillSample(v.Index(0), name)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[xml.Name]() {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			fillSample(v.Field(i), v.Type().Field(i).Name)
		}
	case reflect.String:
		switch {
		case name == "PersonIdentifier":
			v.SetString("0101701234")
		case strings.HasSuffix(name, "Date") || strings.HasPrefix(name, "Valid") || strings.HasSuffix(name, "Since"):
			v.SetString("2026-11-22")
		case name == "Operation":
			v.SetString("Update")
		case name == "Status":
			v.SetString("Active")
		default:
			v.SetString(name + " 1")
		}
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Bool:
		v.SetBool(true)
	}
}

// wrapperContent is what goes inside op's wrapper element for value req,
// its children unprefixed in the wrapper's default namespace.
func wrapperContent(tb testing.TB, req any) string {
	tb.Helper()
	b, err := xml.Marshal(req)
	if err != nil {
		tb.Fatalf("marshal %T: %v", req, err)
	}
	s := string(b)
	return s[strings.IndexByte(s, '>')+1 : strings.LastIndexByte(s, '<')]
}

// payloadEnvelope is a request of gp with a PasswordDigest made at
// testNow, acting as role, whose body is op's wrapper around content.
func payloadEnvelope(ns string, op *operation, role, content string) string {
	wrapper := string(op.name) + "Request"
	return `<s:Envelope xmlns:s="` + ns + `" xmlns:mc="` + Namespace + `" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `"><s:Header>` +
		`<wsse:Security>` + testDigestToken("gp", fuzzSecret) + `</wsse:Security>` +
		`<mc:MessageHeader><mc:MessageID>m1</mc:MessageID></mc:MessageHeader>` +
		`<mc:WhitelistingHeader><mc:SystemName>gp</mc:SystemName><mc:OrganisationIdentifier>SOR:1</mc:OrganisationIdentifier><mc:RequestedRole>` + role + `</mc:RequestedRole></mc:WhitelistingHeader>` +
		`</s:Header><s:Body><` + wrapper + ` xmlns="` + Namespace + `">` + content + `</` + wrapper + `></s:Body></s:Envelope>`
}

// post sends body to h over HTTPS (as the toolchains send PasswordText)
// and returns the answer.
func post(h *Handler, contentType, contentEncoding string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/medcard", bytes.NewReader(body))
	req.TLS = &tls.ConnectionState{HandshakeComplete: true}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if contentEncoding != "" {
		req.Header.Set("Content-Encoding", contentEncoding)
	}
	req.Header.Set(RequestIDHeader, "req-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// answerOf checks an answer as every client reads one: a status of 200 or
// 500 whose Content-Length is the body's, a well-formed SOAP envelope, a
// 500 with a catalogued fault that is not InternalError, quoting none of
// persons. It returns the fault ID ("" for none) and the body element.
func answerOf(t *testing.T, rec *httptest.ResponseRecorder, persons ...string) (string, xml.Name) {
	t.Helper()
	body := rec.Body.Bytes()
	if rec.Code != http.StatusOK && rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 200 or 500: %s", rec.Code, body)
	}
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Fatalf("Content-Length %s, the body has %d bytes", cl, len(body))
	}
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("the answer says gzip but is not: %v", err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("the gzip answer does not decompress: %v", err)
		}
	}
	var env struct {
		XMLName xml.Name
		Body    struct {
			Element struct {
				XMLName xml.Name
				ID11    string `xml:"detail>MedicineCardFault>FaultIdentifier"`
				ID12    string `xml:"Detail>MedicineCardFault>FaultIdentifier"`
				Code11  string `xml:"detail>MedicineCardFault>Code"`
				Code12  string `xml:"Detail>MedicineCardFault>Code"`
				Reason  string `xml:"faultstring"`
				Text    string `xml:"Reason>Text"`
			} `xml:",any"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		t.Fatalf("the answer is not well-formed: %v\n%s", err, body)
	}
	if env.XMLName.Local != "Envelope" || env.XMLName.Space != nsSOAP11 && env.XMLName.Space != nsSOAP12 {
		t.Fatalf("the answer's root is %v, want a SOAP Envelope", env.XMLName)
	}
	el := env.Body.Element
	if rec.Code == http.StatusOK {
		if el.XMLName.Local == "Fault" {
			t.Fatalf("a fault with status 200: %s", body)
		}
		return "", el.XMLName
	}
	id, code, message := el.ID11+el.ID12, medcard.Code(el.Code11+el.Code12), el.Reason+el.Text
	if el.XMLName.Local != "Fault" || id == "" {
		t.Fatalf("status 500 without a fault: %s", body)
	}
	if id == medcard.FaultInternal.ID || code == medcard.CodeInternal {
		t.Fatalf("answered %s (%s): the edge did not catalogue a refusal\n%s", id, code, body)
	}
	for _, p := range persons {
		if len(p) >= 6 && strings.Contains(message, p) {
			t.Fatalf("the fault's message quotes the request's person identifier %q: %q", p, message)
		}
	}
	return id, el.XMLName
}

// FuzzPayload: any content inside the wrapper element of any operation,
// in either SOAP version, as a doctor or a pharmacist, through the real
// medcard.Service over memCards. The answer is a response of that
// operation or a catalogued fault; a refused write wrote nothing; and the
// decoded request, encoded again, decodes to the same value.
func FuzzPayload(f *testing.F) {
	for i, op := range operations {
		content := wrapperContent(f, sampleRequest(op))
		f.Add(content, uint8(i), uint8(0))
		f.Add(strings.ReplaceAll(content, "<", "<mc:"), uint8(i), uint8(1))
		f.Add(strings.ReplaceAll(strings.ReplaceAll(content, "<", "<mc:"), "<mc:/", "</mc:"), uint8(i), uint8(3))
	}
	f.Add(`<PersonIdentifier>0101701234</PersonIdentifier><MedicineCardVersion>4</MedicineCardVersion><DrugMedicationIdentifier>1</DrugMedicationIdentifier>`, uint8(7), uint8(0))
	f.Add(`<PersonIdentifier>3213701234</PersonIdentifier><MedicineCardVersion>x</MedicineCardVersion>`, uint8(5), uint8(2))
	// One handler for the run (a fuzz worker calls the function from one
	// goroutine), over a store emptied for each input.
	store := &memCards{}
	svc := medcard.NewService(store, store, func() time.Time { return testNow })
	h := NewHandler(svc, fuzzSystems{}, nil, zap.NewNop(), Config{Limits: fuzzLimits, Now: func() time.Time { return testNow }})
	f.Fuzz(func(t *testing.T, content string, opIndex, form uint8) {
		if len(content) > int(fuzzLimits.MaxBytes) {
			return
		}
		op := operations[int(opIndex)%len(operations)]
		ns, role := nsSOAP11, "Doctor"
		if form&1 == 1 {
			ns = nsSOAP12
		}
		if form&2 == 2 {
			role = "Pharmacist"
		}
		store.cards, store.outcomes, store.writes = map[medcard.PersonID][]byte{}, map[medcard.OutcomeKey][]byte{}, 0
		doc := []byte(payloadEnvelope(ns, op, role, content))

		req, err := h.readRequest(doc, "")
		var persons []string
		if err == nil {
			persons = personsOf(req.msg.Body)
			checkRoundTrip(t, h, ns, op, role, req.msg.Body)
		}
		contentType := envelope.SOAP11.ContentType()
		if ns == nsSOAP12 {
			contentType = envelope.SOAP12.ContentType()
		}
		rec := post(h, contentType, "", doc)
		fault, el := answerOf(t, rec, persons...)
		if fault != "" {
			if err == nil && fault == medcard.FaultMalformedMessage.ID {
				t.Fatalf("a request that parses answered MalformedMessage")
			}
			if store.writes != 0 {
				t.Fatalf("answered %s, but %d writes reached the store", fault, store.writes)
			}
			return
		}
		if err != nil {
			t.Fatalf("a request that does not parse (%v) was answered %v", err, el)
		}
		if want := string(op.name) + "Response"; el.Local != want || el.Space != Namespace {
			t.Fatalf("%s answered %v, want %s", op.name, el, want)
		}
	})
}

// personsOf returns the PersonIdentifier values anywhere in a decoded
// request.
func personsOf(v any) []string {
	var out []string
	var walk func(reflect.Value, string)
	walk = func(v reflect.Value, name string) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), name)
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), name)
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i), v.Type().Field(i).Name)
			}
		case reflect.String:
			if name == "PersonIdentifier" {
				out = append(out, strings.TrimSpace(v.String()))
			}
		}
	}
	walk(reflect.ValueOf(v), "")
	return out
}

// checkRoundTrip encodes a decoded request again and holds the decoding
// of that to the first.
func checkRoundTrip(t *testing.T, h *Handler, ns string, op *operation, role string, decoded any) {
	t.Helper()
	again := payloadEnvelope(ns, op, role, wrapperContent(t, decoded))
	req, err := h.readRequest([]byte(again), "")
	if err != nil {
		t.Fatalf("the re-encoded request is refused: %v\n%s", err, again)
	}
	if diff := cmp.Diff(decoded, req.msg.Body); diff != "" {
		t.Fatalf("the re-encoded request decodes differently (-first +again):\n%s", diff)
	}
}

// securityFaults are the faults authenticate may answer a security header
// with.
var securityFaults = map[medcard.Fault]bool{
	medcard.FaultNotAuthenticated: true, medcard.FaultPasswordTextNeedsTLS: true, medcard.FaultMessageExpired: true,
}

// FuzzSecurityHeader: any content of wsse:Security, over TLS or plain
// HTTP. authenticate refuses it with a security fault, or accepts only a
// token that is right: gp's secret as PasswordText over TLS, or its
// PasswordDigest over a fresh Created and a nonce of 8 or more bytes, in a
// wsu:Timestamp that has not expired; and an accepted digest's nonce is
// refused the second time.
func FuzzSecurityHeader(f *testing.F) {
	created := testNow.Format(time.RFC3339)
	ts := func(c, e time.Duration) string {
		return `<wsu:Timestamp wsu:Id="_0"><wsu:Created>` + testNow.Add(c).Format("2006-01-02T15:04:05.000Z") + `</wsu:Created><wsu:Expires>` +
			testNow.Add(e).Format("2006-01-02T15:04:05.000Z") + `</wsu:Expires></wsu:Timestamp>`
	}
	for _, s := range []string{
		testDigestToken("gp", fuzzSecret),
		textToken("gp", fuzzSecret, ""),
		textToken("gp", fuzzSecret, passwordText),
		textToken("gp", "wrong", passwordText),
		textToken("gp", fuzzSecret, "urn:other#PasswordHash"),
		ts(-time.Minute, 4*time.Minute) + textToken("gp", fuzzSecret, passwordText),
		ts(-20*time.Minute, -15*time.Minute) + testDigestToken("gp", fuzzSecret),
		`<wsse:UsernameToken><wsse:Username>gp</wsse:Username><wsse:Password Type="` + passwordDigest + `">` +
			digestOf([]byte("short"), created, fuzzSecret) + `</wsse:Password><wsse:Nonce>` + base64.StdEncoding.EncodeToString([]byte("short")) +
			`</wsse:Nonce><wsu:Created>` + created + `</wsu:Created></wsse:UsernameToken>`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	nonces := &memNonces{}
	h := NewHandler(fakeService{}, fuzzSystems{}, nonces, zap.NewNop(), Config{Limits: fuzzLimits, Now: func() time.Time { return testNow }})
	f.Fuzz(func(t *testing.T, security string, overTLS bool) {
		if len(security) > int(fuzzLimits.MaxBytes) {
			return
		}
		nonces.seen = map[string]bool{}
		doc := strings.Replace(payloadEnvelope(nsSOAP12, operations[0], "Doctor", `<PersonIdentifier>0101701234</PersonIdentifier>`),
			"<wsse:Security>"+testDigestToken("gp", fuzzSecret)+"</wsse:Security>", "<wsse:Security>"+security+"</wsse:Security>", 1)
		req, err := h.readRequest([]byte(doc), "")
		if err != nil {
			if f := medcard.FaultOf(catalogued(err)); f == medcard.FaultInternal {
				t.Fatalf("readRequest = %v, not catalogued", err)
			}
			return
		}
		_, admit, err := h.authenticate(context.Background(), req, transport{encrypted: overTLS})
		if err == nil {
			err = admit.wait()
		}
		if err != nil {
			if f := medcard.FaultOf(catalogued(err)); !securityFaults[f] {
				t.Fatalf("authenticate = %v (%s), want a security fault", err, f.ID)
			}
			return
		}
		sec := req.msg.Security
		if ts := sec.Timestamp; ts != nil && ts.Check(testNow, tokenFreshness) != nil {
			t.Fatalf("accepted with a timestamp Check refuses: %+v", ts)
		}
		tok := sec.UsernameToken
		switch typ := strings.TrimSpace(tok.Password.Type); typ {
		case passwordText, "":
			if !overTLS || tok.Password.Value != fuzzSecret {
				t.Fatalf("accepted PasswordText %q (over TLS: %v)", tok.Password.Value, overTLS)
			}
		case passwordDigest:
			nonce, nerr := base64.StdEncoding.DecodeString(strings.TrimSpace(tok.Nonce))
			at, cerr := time.Parse(time.RFC3339Nano, strings.TrimSpace(tok.Created))
			if nerr != nil || len(nonce) < 8 || cerr != nil || at.Sub(testNow).Abs() > tokenFreshness ||
				strings.TrimSpace(tok.Password.Value) != digestOf(nonce, strings.TrimSpace(tok.Created), fuzzSecret) {
				t.Fatalf("accepted a wrong PasswordDigest: %+v", tok)
			}
			_, admit, err := h.authenticate(context.Background(), req, transport{encrypted: overTLS})
			if err == nil {
				err = admit.wait()
			}
			if medcard.FaultOf(err) != medcard.FaultNotAuthenticated {
				t.Fatalf("the same nonce again = %v, want NotAuthenticated", err)
			}
		default:
			t.Fatalf("accepted a password of type %q", typ)
		}
	})
}

// Allocation bound of reading one gzip body: the decompressor's window and
// buffers, and the body itself (io.ReadAll may hold twice what it read),
// whatever the body expands to.
const gzipAllocBound = 2*(2*8<<10) + 1<<20

// FuzzGzipBody: any gzip request body, any charset. readBody returns what
// gzip decompresses it to, if that is within the limit (twice for what may
// be UTF-16), refuses it as MessageTooLarge if it expands beyond, and as
// MalformedMessage if it does not decompress; and it allocates by the
// limit, not by the expansion (a bomb costs what a large message does).
func FuzzGzipBody(f *testing.F) {
	for _, b := range fuzzGoldenBodies(f) {
		f.Add(gzipped(string(b)), "")
	}
	f.Add(gzipped(strings.Repeat(" ", 1<<20)), "")                            // a bomb: 1 MB of spaces in 1 KB
	f.Add(append(gzipped("<a/>"), gzipped(strings.Repeat("b", 9000))...), "") // two members
	f.Add(gzipped(string(encodeUTF16(testEnvelope(nsSOAP11, getCardBody), true, true))), "utf-16")
	f.Add(gzipped(testEnvelope(nsSOAP11, getCardBody))[:40], "")
	f.Add([]byte("not gzip"), "")
	h := NewHandler(fakeService{}, fuzzSystems{}, nil, zap.NewNop(), Config{Limits: fuzzLimits, Now: func() time.Time { return testNow }})
	f.Fuzz(func(t *testing.T, data []byte, charset string) {
		r := httptest.NewRequest(http.MethodPost, "/medcard", bytes.NewReader(data))
		r.Header.Set("Content-Encoding", "gzip")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		body, err := h.readBody(httptest.NewRecorder(), r, charset)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > gzipAllocBound+uint64(4*len(data)) {
			t.Fatalf("reading %d gzip bytes allocated %d bytes, want at most %d", len(data), got, gzipAllocBound+4*len(data))
		}

		max := fuzzLimits.MaxBytes
		want, werr := gunzipAtMost(data, 2*max+1)
		switch {
		case int64(len(data)) > 2*max:
			// More than the wire allows: refused as it is read, too large,
			// or malformed if gzip fails on it first.
			if f := medcard.FaultOf(err); f != medcard.FaultMessageTooLarge && f != medcard.FaultMalformedMessage {
				t.Fatalf("%d gzip bytes, more than the %d the wire allows = %v, want MessageTooLarge", len(data), 2*max, err)
			}
		case werr != nil:
			if medcard.FaultOf(err) != medcard.FaultMalformedMessage && medcard.FaultOf(err) != medcard.FaultMessageTooLarge {
				t.Fatalf("a body gzip cannot read (%v) = %v, want MalformedMessage (or MessageTooLarge, if it was already too large)", werr, err)
			}
		case int64(len(want)) > 2*max || int64(len(want)) > max && !envelope.MayBeUTF16(want, charset):
			if medcard.FaultOf(err) != medcard.FaultMessageTooLarge {
				t.Fatalf("a body of %d bytes decompressed = %v, want MessageTooLarge", len(want), err)
			}
		case err != nil:
			t.Fatalf("a body of %d bytes decompressed = %v, want it read", len(want), err)
		case !bytes.Equal(body, want):
			t.Fatalf("readBody = %d bytes, gzip decompresses %d others", len(body), len(want))
		}
	})
}

// gunzipAtMost decompresses data as gzip.Reader does, reading at most n
// bytes of the result.
func gunzipAtMost(data []byte, n int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(zr, n))
}

// FuzzServeHTTP: any request body with any Content-Type and
// Content-Encoding, at the whole handler over the fake service. Every
// answer is a well-formed envelope, and every refusal a catalogued fault.
func FuzzServeHTTP(f *testing.F) {
	ts := func(d time.Duration) string { return testNow.Add(d).Format("2006-01-02T15:04:05.000Z") }
	soap11, soap12 := "text/xml; charset=utf-8", "application/soap+xml; charset=utf-8"
	for _, b := range fuzzGoldenBodies(f) {
		f.Add(b, soap11, "")
	}
	for _, s := range []struct {
		body, contentType string
	}{
		{testEnvelope(nsSOAP11, getCardBody), soap11},
		{testEnvelope(nsSOAP12, pauseBody), soap12},
		{withHeaders(nsSOAP11, "", pauseBody), soap11},
		{wcfRequest(ts(-30*time.Second), ts(270*time.Second)), soap12 + `; action="` + getCardAction + `"`},
		{addressed(nsSOAP11, getCardAction, "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001", getCardBody), soap11},
		{addressed(nsSOAP12, pauseAction, "urn:uuid:0a1b2c3d-0000-4000-8000-000000000003", getCardBody), soap12},
		{timestamped(nsSOAP12, ts(-time.Minute), ts(4*time.Minute)), soap12},
		{withHeaders(nsSOAP12, `<x:One xmlns:x="urn:x" s:mustUnderstand="true"/><x:Route xmlns:x="urn:x" s:role="urn:example:intermediary" s:mustUnderstand="1"/>`, getCardBody), soap12},
		{testEnvelope(nsSOAP11, `<mc:PauseDrugMedicationRequest xmlns:x="urn:other"><x:PersonIdentifier>0101701234</x:PersonIdentifier></mc:PauseDrugMedicationRequest>`), soap11},
	} {
		f.Add([]byte(s.body), s.contentType, "")
		f.Add(gzipped(s.body), s.contentType, "gzip")
		f.Add(encodeUTF16(s.body, true, true), "text/xml; charset=utf-16", "")
		f.Add(encodeUTF16(s.body, false, false), "application/soap+xml; charset=utf-16", "")
	}
	h := NewHandler(fakeService{}, fuzzSystems{}, nil, zap.NewNop(), Config{Limits: fuzzLimits, Now: func() time.Time { return testNow }})
	f.Fuzz(func(t *testing.T, body []byte, contentType, contentEncoding string) {
		if len(body) > 4*int(fuzzLimits.MaxBytes) || !utf8.ValidString(contentType) || !utf8.ValidString(contentEncoding) {
			return
		}
		answerOf(t, post(h, contentType, contentEncoding, body))
	})
}
