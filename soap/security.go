package soap

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/soap/envelope"
)

// WS-Security UsernameToken password types.
const (
	passwordDigest = envelope.PasswordDigest
	passwordText   = envelope.PasswordText
)

// Systems looks up integrating systems; the catalog implements it.
type Systems interface {
	// System returns the system called name.
	// Errors: FaultNotAuthenticated for an unknown system, FaultUnavailable.
	System(ctx context.Context, name string) (medcard.System, error)
}

// Nonces remembers UsernameToken nonces to refuse a replayed token.
type Nonces interface {
	// FirstUse records nonce for ttl and reports whether it was new. An
	// error means the store could not record it, and the token is refused
	// with a retryable fault.
	FirstUse(ctx context.Context, system, nonce string, ttl time.Duration) (bool, error)
}

// tokenFreshness is how far a token's Created may be from our clock, either
// way; nonces are remembered for twice as long so a replay inside the
// window is always caught. It is also the clock skew a wsu:Timestamp is
// allowed (WCF's default MaxClockSkew is the same five minutes) and how
// long the wsu:Timestamp of our answers is valid.
const tokenFreshness = 5 * time.Minute

// authenticate checks the security and whitelisting headers, with what the
// transport adds (transport.go), and returns the caller they establish.
//
// Errors: FaultNotAuthenticated, FaultPasswordTextNeedsTLS,
// FaultRoleNotAllowed, FaultUnavailable, and the *envelope.Error of a
// wsu:Timestamp that expired or cannot be read (fault.go maps it).
func (h *Handler) authenticate(ctx context.Context, req *request, t transport) (medcard.Caller, error) {
	notAuth := func(format string, args ...any) (medcard.Caller, error) {
		return medcard.Caller{}, medcard.Errorf(medcard.FaultNotAuthenticated, format, args...)
	}
	security := req.msg.Security
	if security == nil || security.UsernameToken == nil {
		return notAuth("a wsse:Security header with a UsernameToken is required")
	}
	if ts := security.Timestamp; ts != nil {
		if err := ts.Check(h.now(), tokenFreshness); err != nil {
			return medcard.Caller{}, err
		}
	}
	tok := security.UsernameToken
	passwordType := strings.TrimSpace(tok.Password.Type)
	if err := checkPasswordTransport(passwordType, t); err != nil {
		return medcard.Caller{}, err
	}
	system, err := h.systems.System(ctx, tok.Username)
	if err != nil {
		return medcard.Caller{}, err
	}
	if err := checkClientCert(system, t); err != nil {
		return medcard.Caller{}, err
	}
	switch passwordType {
	case passwordDigest:
		if system.Secret == "" {
			return notAuth("PasswordDigest is not available for this system: the gateway holds no encrypted secret of it " +
				"that it can read; send PasswordText over TLS, or ask the operator to rotate the system's secret with the gateways' key")
		}
		if err := h.checkDigest(ctx, tok, system.Secret); err != nil {
			return medcard.Caller{}, err
		}
	case passwordText, "":
		if !h.passwords.check(system.Name, system.PasswordHash, tok.Password.Value) {
			return notAuth("wrong username or password")
		}
	default:
		return notAuth("unsupported password type")
	}

	wl := req.whitelisting
	if wl == nil {
		return notAuth("a WhitelistingHeader is required")
	}
	if wl.SystemName != system.Name {
		return notAuth("WhitelistingHeader/SystemName does not match the authenticated system")
	}
	if strings.TrimSpace(wl.OrganisationIdentifier) == "" {
		return notAuth("WhitelistingHeader/OrganisationIdentifier is required")
	}
	role, err := medcard.ParseRole(wl.RequestedRole)
	if err != nil {
		return medcard.Caller{}, err
	}
	if !system.MayActAs(role) {
		return medcard.Caller{}, medcard.Errorf(medcard.FaultRoleNotAllowed, "the system may not act as %s", role)
	}
	caller := medcard.Caller{System: system.Name, Organisation: wl.OrganisationIdentifier, Role: role}
	if req.onBehalfOf != nil {
		caller.AuthorisationID = req.onBehalfOf.AuthorisationIdentifier
	}
	return caller, nil
}

// checkDigest verifies a PasswordDigest token: Base64(SHA-1(nonce +
// created + password)), a fresh Created, and a nonce not seen before.
func (h *Handler) checkDigest(ctx context.Context, tok *envelope.UsernameToken, secret string) error {
	notAuth := func(msg string) error { return medcard.Errorf(medcard.FaultNotAuthenticated, "%s", msg) }
	nonce, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok.Nonce))
	if err != nil || len(nonce) < 8 {
		return notAuth("the UsernameToken needs a base64 Nonce of at least 8 bytes")
	}
	created, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(tok.Created))
	if err != nil {
		return notAuth("the UsernameToken needs a Created timestamp (xs:dateTime with zone)")
	}
	if d := h.now().Sub(created); d > tokenFreshness || d < -tokenFreshness {
		return notAuth("the UsernameToken's Created is more than 5 minutes from our clock")
	}
	want := digestOf(nonce, strings.TrimSpace(tok.Created), secret)
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok.Password.Value)), []byte(want)) != 1 {
		return notAuth("wrong username or password")
	}
	if h.nonces != nil {
		first, err := h.nonces.FirstUse(ctx, tok.Username, tok.Nonce, 2*tokenFreshness)
		switch {
		case err != nil:
			// No store could record the nonce (Redis and its fallback
			// both down): accepting would turn the replay check off.
			return medcard.Errorf(medcard.FaultUnavailable, "the UsernameToken's Nonce cannot be checked now; send the request again with a new token")
		case !first:
			return notAuth("the UsernameToken's Nonce was used before")
		}
	}
	return nil
}

// digestOf is the UsernameToken profile's password digest:
// Base64(SHA-1(nonce + created + password)).
func digestOf(nonce []byte, created, secret string) string {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(secret))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
