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
//
// A PasswordDigest's nonce is checked alongside the rest of the request:
// the admission returned (nil for PasswordText) has the verdict, which the
// request awaits before it has any effect (handler.go).
func (h *Handler) authenticate(ctx context.Context, req *request, t transport) (medcard.Caller, *admission, error) {
	notAuth := func(format string, args ...any) (medcard.Caller, *admission, error) {
		return medcard.Caller{}, nil, medcard.Errorf(medcard.FaultNotAuthenticated, format, args...)
	}
	var admit *admission
	security := req.msg.Security
	if security == nil || security.UsernameToken == nil {
		return notAuth("a wsse:Security header with a UsernameToken is required")
	}
	if ts := security.Timestamp; ts != nil {
		if err := ts.Check(h.now(), tokenFreshness); err != nil {
			return medcard.Caller{}, nil, err
		}
	}
	tok := security.UsernameToken
	passwordType := strings.TrimSpace(tok.Password.Type)
	if err := checkPasswordTransport(passwordType, t); err != nil {
		return medcard.Caller{}, nil, err
	}
	system, err := h.systems.System(ctx, tok.Username)
	if err != nil {
		return medcard.Caller{}, nil, err
	}
	if err := checkClientCert(system, t); err != nil {
		return medcard.Caller{}, nil, err
	}
	switch passwordType {
	case passwordDigest:
		if system.Secret == "" {
			return notAuth("PasswordDigest is not available for this system: the gateway holds no encrypted secret of it " +
				"that it can read; send PasswordText over TLS, or ask the operator to rotate the system's secret with the gateways' key")
		}
		if err := h.checkDigest(ctx, tok, system.Secret); err != nil {
			return medcard.Caller{}, nil, err
		}
		admit = h.admitNonce(ctx, tok.Username, tok.Nonce)
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
		return medcard.Caller{}, nil, err
	}
	if !system.MayActAs(role) {
		return medcard.Caller{}, nil, medcard.Errorf(medcard.FaultRoleNotAllowed, "the system may not act as %s", role)
	}
	caller := medcard.Caller{System: system.Name, Organisation: wl.OrganisationIdentifier, Role: role}
	if req.onBehalfOf != nil {
		caller.AuthorisationID = req.onBehalfOf.AuthorisationIdentifier
	}
	return caller, admit, nil
}

// checkDigest verifies a PasswordDigest token: Base64(SHA-1(nonce +
// created + password)) and a fresh Created; admitNonce checks that the
// nonce was not seen before.
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
	return nil
}

// admission is the verdict of a request's nonce check, made alongside the
// rest of the request: a cached read's card look-up and the nonce's SET NX
// then go to Redis together, one round trip instead of two.
type admission struct {
	done chan struct{}
	err  error
}

// admitNonce starts the check that the nonce of system's token was not
// used before (nil: no nonce store, nothing to wait for).
func (h *Handler) admitNonce(ctx context.Context, system, nonce string) *admission {
	if h.nonces == nil {
		return nil
	}
	a := &admission{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		first, err := h.nonces.FirstUse(ctx, system, nonce, 2*tokenFreshness)
		switch {
		case err != nil:
			// No store could record the nonce (Redis and its fallback
			// both down): accepting would turn the replay check off.
			a.err = medcard.Errorf(medcard.FaultUnavailable, "the UsernameToken's Nonce cannot be checked now; send the request again with a new token")
		case !first:
			a.err = medcard.Errorf(medcard.FaultNotAuthenticated, "the UsernameToken's Nonce was used before")
		}
	}()
	return a
}

// wait returns the verdict: nil if the token may be used.
func (a *admission) wait() error {
	if a == nil {
		return nil
	}
	<-a.done
	return a.err
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
