package app

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/internal/devcert"
)

// TestCertificateReloaded: a renewed certificate is served after the next
// check without a restart; a pair that does not load leaves the one before
// serving.
func TestCertificateReloaded(t *testing.T) {
	dir := t.TempDir()
	first, err := devcert.Ensure(dir, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func() { mu.Lock(); clock = clock.Add(certCheckInterval); mu.Unlock() }
	r, err := newCertReloader(first.ServerCert, first.ServerKey, now, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		t.Helper()
		c, err := r.get(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.String()
	}
	if got, want := serial(), first.Server.SerialNumber.String(); got != want {
		t.Fatalf("serving serial %s, want the first certificate's %s", got, want)
	}

	renewed, err := devcert.Ensure(dir, []string{"localhost", "gateway.test"}, time.Now())
	if err != nil || !renewed.ServerCreated {
		t.Fatalf("renew: %v (made %v)", err, renewed.ServerCreated)
	}
	if got := serial(); got != first.Server.SerialNumber.String() {
		t.Errorf("serving %s before the check interval passed, want the first certificate still", got)
	}
	advance()
	if got, want := serial(), renewed.Server.SerialNumber.String(); got != want {
		t.Errorf("serving serial %s after the check, want the renewed certificate's %s", got, want)
	}

	if err := os.WriteFile(renewed.ServerCert, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	advance()
	if got, want := serial(), renewed.Server.SerialNumber.String(); got != want {
		t.Errorf("serving serial %s after a broken write, want the renewed certificate's %s still", got, want)
	}
}

// TestTLSConfigRefusesHalfASetting: the flags that go together are refused
// alone, before anything is connected; TLS 1.2 is the least served.
func TestTLSConfigRefusesHalfASetting(t *testing.T) {
	dir := t.TempDir()
	res, err := devcert.Ensure(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{TLSCertFile: res.ServerCert},
		{TLSKeyFile: res.ServerKey},
		{TLSClientCAFile: res.CACert},
		{TLSCertFile: res.ServerCert, TLSKeyFile: res.CAKey}, // not its key
		{TLSCertFile: res.ServerCert, TLSKeyFile: res.ServerKey, TLSClientCAFile: empty},
	} {
		if _, err := newTLSConfig(cfg, zap.NewNop()); err == nil {
			t.Errorf("newTLSConfig(%+v) succeeded, want a refusal", cfg)
		}
	}
	tc, err := newTLSConfig(Config{TLSCertFile: res.ServerCert, TLSKeyFile: res.ServerKey, TLSClientCAFile: res.CACert}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinVersion != tls.VersionTLS12 || tc.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("MinVersion %x, ClientAuth %v; want TLS 1.2 and VerifyClientCertIfGiven", tc.MinVersion, tc.ClientAuth)
	}
	if tc, err := newTLSConfig(Config{}, zap.NewNop()); tc != nil || err != nil {
		t.Errorf("newTLSConfig without files = %v, %v; want nil, nil (plain HTTP)", tc, err)
	}
}
