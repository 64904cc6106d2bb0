package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// certCheckInterval is how often, at most, a handshake looks whether the
// certificate files changed: a renewed certificate is served within it.
const certCheckInterval = 10 * time.Second

// newTLSConfig is the gateway's TLS configuration: TLS 1.2 at least (what
// every integrator toolchain we serve speaks; older versions are broken),
// Go's cipher suites, the certificate from cfg's files, reloaded when they
// change, and with TLSClientCAFile set a request for a client certificate
// verified against those CAs. Requested, not required: the systems that
// must present one are named in the catalog (soap/transport.go), and the
// others, and the web UI, go on without. nil without a certificate.
func newTLSConfig(cfg Config, log *zap.Logger) (*tls.Config, error) {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		if cfg.TLSClientCAFile != "" {
			return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key: client certificates are asked for in the gateway's own TLS handshake")
		}
		return nil, nil
	}
	if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
		return nil, errors.New("--tls-cert and --tls-key go together: the certificate (chain) and its key, both PEM")
	}
	certs, err := newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, time.Now, log)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	if cfg.TLSClientCAFile != "" {
		pemCAs, err := os.ReadFile(cfg.TLSClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCAs) {
			return nil, fmt.Errorf("--tls-client-ca %s: no PEM certificate in it", cfg.TLSClientCAFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// certReloader serves a certificate from its files and loads them again
// when they change, so that a renewed certificate (certbot, cert-manager,
// `gateway dev-cert`) is served without a restart. A pair that does not
// load (half written, key and certificate not matching yet) is logged and
// the one before goes on serving.
type certReloader struct {
	certFile, keyFile string
	now               func() time.Time
	log               *zap.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	loaded    [2]fileStamp // of the files cert came from
	failed    [2]fileStamp // of the files that last failed to load
	checkedAt time.Time
}

// fileStamp tells a changed file from an unchanged one.
type fileStamp struct {
	mod  time.Time
	size int64
}

// newCertReloader loads the pair once; an error here stops the gateway
// from starting.
func newCertReloader(certFile, keyFile string, now func() time.Time, log *zap.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, now: now, log: log}
	stamps, err := r.stamps()
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	r.cert, r.loaded, r.checkedAt = &cert, stamps, now()
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return s, err
		}
		s[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return s, nil
}

// get is tls.Config.GetCertificate.
func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checkedAt) >= certCheckInterval {
		r.checkedAt = now
		r.reloadIfChanged()
	}
	return r.cert, nil
}

// reloadIfChanged loads the files again if they changed since the
// certificate served was loaded and since they last failed to.
func (r *certReloader) reloadIfChanged() {
	stamps, err := r.stamps()
	if err != nil || stamps == r.loaded || stamps == r.failed {
		return
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.failed = stamps
		r.log.Warn("tls certificate not reloaded; serving the one before", zap.String("cert", r.certFile), zap.Error(err))
		return
	}
	r.cert, r.loaded = &cert, stamps
	fields := []zap.Field{zap.String("cert", r.certFile)}
	if cert.Leaf != nil {
		fields = append(fields, zap.Time("not_after", cert.Leaf.NotAfter))
	}
	r.log.Info("tls certificate reloaded", fields...)
}
