package soap

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestPasswordCache: a right password is remembered until passwordCacheTTL,
// a wrong one never, and a new hash (a rotated secret) misses.
func TestPasswordCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newPasswordCache(func() time.Time { return now })
	hash := testSecretHash()
	for _, step := range []struct {
		name           string
		hash, password string
		advance        time.Duration
		want           bool
		cached         int
	}{
		{"wrong password", hash, "guess", 0, false, 0},
		{"right password", hash, "s3cret", 0, true, 1},
		{"again, cached", hash, "s3cret", passwordCacheTTL - time.Second, true, 1},
		{"wrong password after a right one", hash, "guess", 0, false, 1},
		{"the stored hash as the password", hash, hash, 0, false, 1},
		{"past the TTL, checked again", hash, "s3cret", 2 * time.Second, true, 1},
		{"another hash (rotated)", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "s3cret", 0, false, 1},
	} {
		now = now.Add(step.advance)
		if got := c.check("gp", step.hash, step.password); got != step.want {
			t.Errorf("%s: check = %v, want %v", step.name, got, step.want)
		}
		if len(c.valid) != step.cached {
			t.Errorf("%s: %d entries cached, want %d", step.name, len(c.valid), step.cached)
		}
	}
}

// TestDigestRefusedWithoutSecret: a system whose secret the gateway cannot
// read gets a fault that says to use PasswordText, and nothing is served.
func TestDigestRefusedWithoutSecret(t *testing.T) {
	var got any
	h := NewHandler(fakeService{got: &got}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
	req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(tokenEnvelope(nsSOAP11, "textonly", testDigestToken("textonly", "s3cret"))))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if faultIDOf(rec.Body.Bytes()) != "NotAuthenticated" || !strings.Contains(rec.Body.String(), "send PasswordText over TLS") || got != nil {
		t.Errorf("digest of a hashed-only system: status %d, served %v, body %s; want NotAuthenticated saying to send PasswordText", rec.Code, got != nil, rec.Body.String())
	}
}

// BenchmarkPasswordTextCached is the cost of a PasswordText check on a
// cache hit, which every request of such a system pays.
func BenchmarkPasswordTextCached(b *testing.B) {
	c := newPasswordCache(time.Now)
	hash := testSecretHash()
	if !c.check("gp", hash, "s3cret") {
		b.Fatal("the right password was refused")
	}
	for b.Loop() {
		if !c.check("gp", hash, "s3cret") {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAuthenticatePasswordText is one whole PasswordText request over
// TLS on a password cache hit, against the same with a digest.
func BenchmarkAuthenticatePasswordText(b *testing.B) {
	for _, tc := range []struct{ name, token string }{
		{"text", textToken("gp", "s3cret", passwordText)},
		{"digest", testDigestToken("gp", "s3cret")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var got any
			h := NewHandler(fakeService{got: &got}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
			body := tokenEnvelope(nsSOAP11, "gp", tc.token)
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(body))
				req.Header.Set("Content-Type", "text/xml; charset=utf-8")
				req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}
