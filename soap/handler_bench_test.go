package soap

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkServeGetMedicineCard measures the SOAP edge alone on the read
// path (parse, authenticate, dispatch, encode) over the fake service, so
// that a change to the wire layer shows in ns/op and allocs/op without
// databases. Run it with
//
//	go test -run '^$' -bench ServeGetMedicineCard -benchmem ./soap
func BenchmarkServeGetMedicineCard(b *testing.B) {
	get := `<mc:GetMedicineCardRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:GetMedicineCardRequest>`
	h := NewHandler(fakeService{}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
	for _, bc := range []struct {
		name           string
		ns             string
		acceptEncoding string
	}{
		{"soap11", nsSOAP11, ""},
		{"soap12", nsSOAP12, ""},
		{"soap11-gzip", nsSOAP11, "gzip"},
	} {
		body := testEnvelope(bc.ns, get)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(body))
				req.Header.Set("Content-Type", "text/xml")
				if bc.acceptEncoding != "" {
					req.Header.Set("Accept-Encoding", bc.acceptEncoding)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}
