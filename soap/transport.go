package soap

// Transport security: what the connection a request came on adds to its
// UsernameToken. A PasswordText travels in clear, so it is accepted only
// over TLS; and a system registered with client certificates must have
// presented one of them in the TLS handshake.

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/http"

	"github.com/sharedmedcard/gateway/medcard"
)

// transport is what the connection says about a request.
type transport struct {
	// encrypted: the request reached us over TLS, or over TLS to a proxy
	// in front of us (Config.TLSTerminatedUpstream).
	encrypted bool
	// clientCert is the client certificate our own TLS handshake verified
	// against the client CA; nil: none (or TLS ended before us).
	clientCert *x509.Certificate
}

// transportOf reads the transport of r. Only a certificate with a verified
// chain counts, so a listener that merely requested one proves nothing.
func (h *Handler) transportOf(r *http.Request) transport {
	t := transport{encrypted: r.TLS != nil || h.cfg.TLSTerminatedUpstream}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		t.clientCert = r.TLS.VerifiedChains[0][0]
	}
	return t
}

// checkPasswordTransport refuses a PasswordText token that came over plain
// HTTP. It runs before the system is looked up or the password compared:
// the secret has been exposed on the wire either way, and the answer must
// not tell an eavesdropper whether it was right.
//
// Errors: FaultPasswordTextNeedsTLS.
func checkPasswordTransport(passwordType string, t transport) error {
	if t.encrypted || passwordType == passwordDigest {
		return nil
	}
	if passwordType == passwordText || passwordType == "" {
		return medcard.Errorf(medcard.FaultPasswordTextNeedsTLS,
			"a PasswordText UsernameToken is accepted only over HTTPS: call the https address, or send a PasswordDigest")
	}
	return nil // an unknown type is refused by authenticate
}

// checkClientCert refuses a request of a system registered with client
// certificates unless the handshake presented one of them.
//
// Errors: FaultNotAuthenticated.
func checkClientCert(system medcard.System, t transport) error {
	if !system.RequiresClientCert() {
		return nil
	}
	if t.clientCert == nil {
		return medcard.Errorf(medcard.FaultNotAuthenticated,
			"this system must present its registered TLS client certificate; none was presented to the gateway")
	}
	if !system.AcceptsClientCert(CertSHA256(t.clientCert)) {
		return medcard.Errorf(medcard.FaultNotAuthenticated,
			"the TLS client certificate presented is not one registered for this system")
	}
	return nil
}

// CertSHA256 is a certificate's fingerprint as the catalog keeps it: the
// lowercase hex SHA-256 of its DER encoding (what `openssl x509
// -fingerprint -sha256` shows, without the colons).
func CertSHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
