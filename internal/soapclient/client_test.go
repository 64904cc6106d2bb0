package soapclient

import (
	"context"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// received is what a test server saw of one request.
type received struct {
	method, contentType, soapAction, encoding string
	soapActionSet                             bool
	contentLength                             int64
	chunked                                   bool
	body                                      string
}

// recordingServer answers every request with status and answer, and
// hands what it received to the test.
func recordingServer(t *testing.T, status int, answer string) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, set := r.Header["Soapaction"]
		got <- received{method: r.Method, contentType: r.Header.Get("Content-Type"), soapAction: r.Header.Get("SOAPAction"),
			soapActionSet: set, encoding: r.Header.Get("Content-Encoding"), contentLength: r.ContentLength,
			chunked: len(r.TransferEncoding) > 0, body: string(body)}
		w.Header().Set(RequestIDHeader, "req-7")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

const cardAnswer = `<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetMedicineCardResponse xmlns="` + Namespace + `"><MedicineCard><MedicineCardVersion>7</MedicineCardVersion></MedicineCard></GetMedicineCardResponse></soap:Body></soap:Envelope>`

// TestDoHTTPHeaders: the Content-Type, SOAPAction and length of each kind
// of request, as the WSDL's bindings name them.
func TestDoHTTPHeaders(t *testing.T) {
	srv, got := recordingServer(t, http.StatusOK, cardAnswer)
	c := New(srv.URL, srv.Client())
	cases := []struct {
		name string
		req  Request
		want received
	}{
		{"1.1 operation", Request{Operation: "GetMedicineCard", Identity: demoGP},
			received{contentType: "text/xml; charset=utf-8", soapAction: `"` + Namespace + `/GetMedicineCard"`, soapActionSet: true}},
		{"1.2 operation", Request{Version: SOAP12, Operation: "GetMedicineCard", Identity: demoGP},
			received{contentType: `application/soap+xml; charset=utf-8; action="` + Namespace + `/GetMedicineCard"`}},
		{"1.1 body without operation", Request{Body: "<mc:GetMedicineCardRequest/>", Identity: demoGP},
			received{contentType: "text/xml; charset=utf-8", soapAction: `""`, soapActionSet: true}},
		{"1.2 raw", Request{Version: SOAP12, Raw: []byte("<nope")},
			received{contentType: "application/soap+xml; charset=utf-8", body: "<nope"}},
		{"raw with HTTP headers", Request{Raw: []byte("gz"), HTTPHeader: http.Header{"Content-Encoding": {"gzip"}}},
			received{contentType: "text/xml; charset=utf-8", soapAction: `""`, soapActionSet: true, encoding: "gzip", body: "gz"}},
	}
	for _, tc := range cases {
		var resp Response
		if err := c.Do(context.Background(), &tc.req, &resp); err != nil {
			t.Fatalf("%s: Do: %v", tc.name, err)
		}
		r := <-got
		if tc.want.body == "" {
			tc.want.body = r.body // checked below
		}
		tc.want.method, tc.want.contentLength = http.MethodPost, int64(len(r.body))
		if diff := cmp.Diff(tc.want, r, cmp.AllowUnexported(received{})); diff != "" {
			t.Errorf("%s: the server received (-want +got):\n%s", tc.name, diff)
		}
		if tc.req.Raw == nil {
			if env := parseSent(t, []byte(r.body)); env.XMLName.Space != tc.req.Version.Namespace() {
				t.Errorf("%s: envelope namespace %s, want %s", tc.name, env.XMLName.Space, tc.req.Version.Namespace())
			}
		}
		var card struct {
			Version int64 `xml:"MedicineCard>MedicineCardVersion"`
		}
		if err := resp.Decode(&card); err != nil || card.Version != 7 || resp.Status != 200 || resp.Fault != nil || resp.RequestID() != "req-7" {
			t.Errorf("%s: answer %d, fault %v, request id %q, card version %d (%v); want 200, a card at version 7 from req-7",
				tc.name, resp.Status, resp.Fault, resp.RequestID(), card.Version, err)
		}
	}
}

// soapTestdata reads a golden answer of the gateway (soap/testdata).
func soapTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "soap", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDoReadsFaults reads the gateway's golden faults, and the odd fault
// and non-SOAP answers, into typed results.
func TestDoReadsFaults(t *testing.T) {
	busy := Fault{Identifier: "MedicineCardBusy", DetailCode: "unavailable", Message: "busy", Reason: "busy", Retryable: true, RequestID: "req-1"}
	busy11, busy12 := busy, busy
	busy11.Version, busy11.Code = SOAP11, "soap:Server"
	busy12.Version, busy12.Code, busy12.Subcode = SOAP12, "env:Receiver", "mc:MedicineCardBusy"
	cases := []struct {
		name   string
		status int
		answer string
		want   *Fault
		err    string // resp.Err()
	}{
		{"busy 1.1", 500, soapTestdata(t, "fault-busy-11.xml"), &busy11, "SOAP fault soap:Server MedicineCardBusy: busy"},
		{"busy 1.2", 500, soapTestdata(t, "fault-busy-12.xml"), &busy12, "SOAP fault env:Receiver MedicineCardBusy: busy"},
		{"1.2 without detail", 400, `<env:Envelope xmlns:env="` + NamespaceSOAP12 + `"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value>
			<env:Subcode><env:Value>mc:MalformedMessage</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">bad &amp; worse</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`,
			&Fault{Version: SOAP12, Code: "env:Sender", Subcode: "mc:MalformedMessage", Reason: "bad & worse"}, "SOAP fault env:Sender: bad & worse"},
		{"detail in another namespace", 500, `<s:Envelope xmlns:s="` + NamespaceSOAP11 + `"><s:Header/><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>x</faultstring>
			<detail><MedicineCardFault xmlns="urn:other"><FaultIdentifier>Spoof</FaultIdentifier></MedicineCardFault></detail></s:Fault></s:Body></s:Envelope>`,
			&Fault{Version: SOAP11, Code: "s:Client", Reason: "x"}, "SOAP fault s:Client: x"},
		{"not SOAP", 405, "method not allowed\n", nil, "HTTP 405 without a SOAP fault"},
		{"a card with status 500", 500, cardAnswer, nil, "HTTP 500 without a SOAP fault"},
	}
	for _, tc := range cases {
		srv, _ := recordingServer(t, tc.status, tc.answer)
		var resp Response
		if err := New(srv.URL, nil).Do(context.Background(), &Request{Operation: "GetMedicineCard"}, &resp); err != nil {
			t.Fatalf("%s: Do: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, resp.Fault); diff != "" || resp.Status != tc.status {
			t.Errorf("%s: status %d, fault (-want +got):\n%s", tc.name, resp.Status, diff)
		}
		if err := resp.Err(); err == nil || err.Error() != tc.err {
			t.Errorf("%s: Err() = %v, want %s", tc.name, err, tc.err)
		}
		if err := resp.Decode(&struct{}{}); err == nil {
			t.Errorf("%s: Decode of a failure succeeded", tc.name)
		}
	}
}

func TestParseFaultRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, envelope string
		noFault        bool // ErrNoFault rather than another error
	}{
		{"a success", cardAnswer, true},
		{"not XML", "this is not xml", false},
		{"truncated", soapTestdata(t, "fault-busy-11.xml")[:200], false},
		{"no envelope", `<Envelope><Body><Fault/></Body></Envelope>`, false},
		{"empty body", `<s:Envelope xmlns:s="` + NamespaceSOAP11 + `"><s:Body></s:Body></s:Envelope>`, false},
		{"fault of the other version", `<s:Envelope xmlns:s="` + NamespaceSOAP11 + `"><s:Body><e:Fault xmlns:e="` + NamespaceSOAP12 + `"/></s:Body></s:Envelope>`, true},
	} {
		f, err := ParseFault([]byte(tc.envelope))
		if err == nil || errors.Is(err, ErrNoFault) != tc.noFault {
			t.Errorf("ParseFault(%s) = %+v, %v; want an error (ErrNoFault: %v)", tc.name, f, err, tc.noFault)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	answer := `<s:Envelope xmlns:s="` + NamespaceSOAP12 + `" xmlns:a="` + NamespaceWSA + `"><s:Header>
		<a:Action s:mustUnderstand="1">` + Namespace + `/GetMedicineCardResponse</a:Action><a:RelatesTo>urn:uuid:1</a:RelatesTo>
		<o:Security xmlns:o="` + NamespaceWSSE + `" xmlns:u="` + NamespaceWSU + `"><u:Timestamp><u:Created>2026-11-03T09:30:15Z</u:Created><u:Expires>2026-11-03T09:35:15Z</u:Expires></u:Timestamp></o:Security>
		</s:Header><s:Body/></s:Envelope>`
	got, err := ParseHeaders([]byte(answer))
	want := ResponseHeaders{Action: Namespace + "/GetMedicineCardResponse", RelatesTo: "urn:uuid:1",
		TimestampCreated: "2026-11-03T09:30:15Z", TimestampExpires: "2026-11-03T09:35:15Z"}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("ParseHeaders: %v (-want +got):\n%s", err, diff)
	}
	if got, err := ParseHeaders([]byte(cardAnswer)); err != nil || got != (ResponseHeaders{}) {
		t.Errorf("ParseHeaders of an answer without a Header = %+v, %v; want none", got, err)
	}
}

// TestDoOverTLS: the client speaks HTTPS with the *http.Client it is
// given, and refuses a server its TLS configuration does not trust.
func TestDoOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("the request did not come over TLS")
		}
		_, _ = io.WriteString(w, cardAnswer)
	}))
	defer srv.Close()
	var resp Response
	if err := New(srv.URL, srv.Client()).Do(context.Background(), &Request{Operation: "GetMedicineCard"}, &resp); err != nil || resp.Status != 200 {
		t.Fatalf("Do over TLS = %v, status %d", err, resp.Status)
	}
	err := New(srv.URL, &http.Client{}).Do(context.Background(), &Request{Operation: "GetMedicineCard"}, &resp)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("Do to a server of an unknown CA = %v, want x509.UnknownAuthorityError", err)
	}
}

// TestDoConcurrentReuse: many goroutines share a client, each reusing its
// Response; every server sees whole envelopes of its own request (the
// pooled buffers are not reused while the transport still reads them).
// Run with -race.
func TestDoConcurrentReuse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env sentEnvelope
		if err := xml.Unmarshal(body, &env); err != nil || env.Header.Message == nil || env.Header.Message.MessageID != r.Header.Get("X-Test-Message") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, strings.Replace(cardAnswer, "<MedicineCardVersion>7<", "<MedicineCardVersion>"+env.Header.Message.MessageID+"<", 1))
	}))
	defer srv.Close()
	c := New(srv.URL, srv.Client())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var resp Response
			for i := range 50 {
				id := fmt.Sprint(g*1000 + i)
				r := Request{Operation: "GetMedicineCard", Identity: demoGP, MessageID: id, Params: strings.Repeat("<mc:Pad/>", i),
					HTTPHeader: http.Header{"X-Test-Message": {id}}}
				if err := c.Do(context.Background(), &r, &resp); err != nil {
					t.Error(err)
					return
				}
				var card struct {
					Version string `xml:"MedicineCard>MedicineCardVersion"`
				}
				if err := resp.Decode(&card); err != nil || card.Version != id {
					t.Errorf("request %s: answer %d for %q (%v)", id, resp.Status, card.Version, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
