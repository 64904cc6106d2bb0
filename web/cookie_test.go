package web

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCookiesSecureOverTLS: the sign-in form's cookie is Secure when the
// request came over TLS, or when TLS ends at a proxy in front
// (Config.SecureCookies), and only then.
func TestCookiesSecureOverTLS(t *testing.T) {
	for _, tc := range []struct {
		name          string
		tls           bool
		secureCookies bool
		want          bool
	}{
		{"plain HTTP", false, false, false},
		{"TLS", true, false, true},
		{"TLS ended at a proxy", false, true, true},
	} {
		h, err := New(Config{SecureCookies: tc.secureCookies})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, Path+"/signin", nil)
		if tc.tls {
			req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		cookies := rec.Result().Cookies()
		if rec.Code != http.StatusOK || len(cookies) == 0 {
			t.Fatalf("%s: GET signin = %d with %d cookies, want 200 with the form's cookie", tc.name, rec.Code, len(cookies))
		}
		for _, c := range cookies {
			if c.Secure != tc.want {
				t.Errorf("%s: cookie %s Secure = %v, want %v", tc.name, c.Name, c.Secure, tc.want)
			}
		}
	}
}
