package soap

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// WS-Security UsernameToken password types.
const (
	passwordDigest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	passwordText   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
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
	// error means the store could not tell; the caller decides.
	FirstUse(ctx context.Context, system, nonce string, ttl time.Duration) (bool, error)
}

// tokenFreshness is how far a token's Created may be from our clock, either
// way; nonces are remembered for twice as long so a replay inside the
// window is always caught.
const tokenFreshness = 5 * time.Minute

// authenticate checks the security and whitelisting headers and returns the
// caller they establish.
//
// Errors: FaultNotAuthenticated, FaultMessageExpired, FaultRoleNotAllowed,
// FaultUnavailable.
func (h *Handler) authenticate(ctx context.Context, env *envelope) (medcard.Caller, error) {
	notAuth := func(format string, args ...any) (medcard.Caller, error) {
		return medcard.Caller{}, medcard.Errorf(medcard.FaultNotAuthenticated, format, args...)
	}
	if env.security == nil || env.security.UsernameToken == nil {
		return notAuth("a wsse:Security header with a UsernameToken is required")
	}
	if ts := env.security.Timestamp; ts != nil {
		if err := h.checkTimestamp(ts); err != nil {
			return medcard.Caller{}, err
		}
	}
	tok := env.security.UsernameToken
	system, err := h.systems.System(ctx, tok.Username)
	if err != nil {
		return medcard.Caller{}, err
	}
	switch strings.TrimSpace(tok.Password.Type) {
	case passwordDigest:
		if err := h.checkDigest(ctx, tok, system.Secret); err != nil {
			return medcard.Caller{}, err
		}
	case passwordText, "":
		if subtle.ConstantTimeCompare([]byte(tok.Password.Value), []byte(system.Secret)) != 1 {
			return notAuth("wrong username or password")
		}
	default:
		return notAuth("unsupported password type")
	}

	wl := env.whitelisting
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
	if env.onBehalfOf != nil {
		caller.AuthorisationID = env.onBehalfOf.AuthorisationIdentifier
	}
	return caller, nil
}

// checkTimestamp refuses a wsu:Timestamp that has expired or was made in
// the future, allowing our clocks to differ by tokenFreshness either way
// (WCF's default MaxClockSkew is the same five minutes).
//
// Errors: FaultMessageExpired, FaultNotAuthenticated.
func (h *Handler) checkTimestamp(ts *securityTimestamp) error {
	now := h.now()
	parse := func(field, value string) (time.Time, bool, error) {
		value = strings.TrimSpace(value)
		if value == "" {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(time.RFC3339Nano, value)
		if err != nil {
			return time.Time{}, false, medcard.Errorf(medcard.FaultNotAuthenticated,
				"the wsu:Timestamp's %s is not an xs:dateTime with a zone", field)
		}
		return t, true, nil
	}
	created, hasCreated, err := parse("Created", ts.Created)
	if err != nil {
		return err
	}
	expires, hasExpires, err := parse("Expires", ts.Expires)
	if err != nil {
		return err
	}
	if hasCreated && created.Sub(now) > tokenFreshness {
		return medcard.Errorf(medcard.FaultNotAuthenticated, "the wsu:Timestamp's Created is more than 5 minutes ahead of our clock")
	}
	if hasCreated && hasExpires && expires.Before(created) {
		return medcard.Errorf(medcard.FaultNotAuthenticated, "the wsu:Timestamp expires before it was created")
	}
	if hasExpires && now.Sub(expires) > tokenFreshness {
		return medcard.Errorf(medcard.FaultMessageExpired, "the message expired (wsu:Timestamp/Expires) more than 5 minutes ago by our clock")
	}
	return nil
}

// checkDigest verifies a PasswordDigest token: Base64(SHA-1(nonce +
// created + password)), a fresh Created, and a nonce not seen before.
func (h *Handler) checkDigest(ctx context.Context, tok *usernameToken, secret string) error {
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
		if err == nil && !first {
			return notAuth("the UsernameToken's Nonce was used before")
		}
		// A nonce store that cannot answer must not stop the service:
		// the token is still fresh and its digest valid.
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
