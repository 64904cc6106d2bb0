package soap

import (
	"reflect"
	"strings"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/soap/envelope"
)

// Namespace is the one target namespace of our WSDL and schema.
const Namespace = "http://sharedmedcard.example/2026/01/medcard"

// The envelope package's namespaces under the short names this package
// and its tests use.
const (
	nsSOAP11 = envelope.NamespaceSOAP11
	nsSOAP12 = envelope.NamespaceSOAP12
	nsWSSE   = envelope.NamespaceWSSE
	nsWSU    = envelope.NamespaceWSU
	nsWSA    = envelope.NamespaceWSA
)

// Limits bound what a request may cost us to parse; see envelope.Limits.
type Limits = envelope.Limits

// DefaultLimits fit the largest legitimate request (a discharge with a few
// hundred items) with room to spare.
var DefaultLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxTokens: 50_000}

// request is one request as the SOAP edge reads it: the parsed message,
// our own header blocks (headers.go) and the operation its body names. It
// is the envelope.Application the parser asks about our names.
type request struct {
	msg          envelope.Message
	message      *messageHeader
	whitelisting *whitelistingHeader
	onBehalfOf   *onBehalfOfHeader
	consent      *consentHeader
	op           *operation
	ops          map[string]*operation
}

var _ envelope.Application = (*request)(nil)

// Header implements envelope.Application.
func (r *request) Header(name string) any {
	switch name {
	case "MessageHeader":
		r.message = &messageHeader{}
		return r.message
	case "WhitelistingHeader":
		r.whitelisting = &whitelistingHeader{}
		return r.whitelisting
	case "OnBehalfOf":
		r.onBehalfOf = &onBehalfOfHeader{}
		return r.onBehalfOf
	case "ConsentHeader":
		r.consent = &consentHeader{}
		return r.consent
	}
	return nil
}

// Body implements envelope.Application: the request value of the
// operation whose wrapper element is name.
func (r *request) Body(name string) any {
	if op := r.ops[name]; op != nil {
		return op.newRequest()
	}
	return nil
}

// readRequest parses a request body and holds its WS-Addressing headers
// to the operation it names. Errors are *envelope.Error; the request is
// returned as far as it was read (its msg.Version zero if not even the
// envelope's version is known).
func (h *Handler) readRequest(body []byte, charset string) (*request, error) {
	req := &request{ops: h.ops}
	err := envelope.Parse(&req.msg, body, charset, envelope.Config{Limits: h.cfg.Limits, Namespace: Namespace, Vocabulary: h.vocab}, req)
	req.op = h.ops[req.msg.BodyName]
	if err != nil {
		return req, err
	}
	return req, req.msg.Addressing.Check(req.op.element.Local, req.op.soapAction, req.op.inputAction)
}

// messageID is the request's idempotency key: our MessageHeader's
// MessageID, or, when that is absent or empty, its wsa:MessageID
// (envelope.Addressing.MessageKey).
//
// Errors: FaultInvalidField.
func (r *request) messageID() (string, error) {
	id := ""
	if r.message != nil {
		id = strings.TrimSpace(r.message.MessageID)
	}
	if len(id) > envelope.MaxMessageIDLength {
		return "", medcard.Errorf(medcard.FaultInvalidField, "MessageID is longer than %d characters", envelope.MaxMessageIDLength)
	}
	if id == "" {
		id = r.msg.Addressing.MessageKey() // its length was checked as it was read
	}
	return id, nil
}

// vocabularyOf is our names for the lexer (envelope.Vocabulary): the
// namespace and every element name of the operations' requests and of our
// header blocks, as their xml tags spell them.
func vocabularyOf(ops []*operation) *envelope.Vocabulary {
	words := []string{Namespace, "MessageHeader", "WhitelistingHeader", "OnBehalfOf", "ConsentHeader"} // request.Header's
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("xml"), ",")
			if _, local, ok := strings.Cut(name, " "); ok {
				name = local
			}
			if name != "" {
				words = append(words, name)
			}
			walk(f.Type)
		}
	}
	for _, op := range ops {
		walk(reflect.TypeOf(op.newRequest()))
	}
	for _, header := range []any{messageHeader{}, whitelistingHeader{}, onBehalfOfHeader{}, consentHeader{}} {
		walk(reflect.TypeOf(header))
	}
	return envelope.NewVocabulary(words...)
}

// call is the service call of this request by caller: its MessageID (see
// messageID), the FlowID of our MessageHeader, and the consent and
// emergency override of its ConsentHeader, all of which the request's
// audit row records.
//
// Errors: FaultInvalidField.
func (r *request) call(caller medcard.Caller) (medcard.Call, error) {
	messageID, err := r.messageID()
	if err != nil {
		return medcard.Call{}, err
	}
	call := medcard.Call{Caller: caller, MessageID: messageID, Consent: medcard.ConsentNone}
	if r.message != nil {
		call.FlowID = strings.TrimSpace(r.message.FlowID)
		if len(call.FlowID) > envelope.MaxMessageIDLength {
			return medcard.Call{}, medcard.Errorf(medcard.FaultInvalidField, "FlowID is longer than %d characters", envelope.MaxMessageIDLength)
		}
	}
	if r.consent != nil {
		if call.Consent, err = medcard.ParseConsent(strings.TrimSpace(r.consent.Consent)); err != nil {
			return medcard.Call{}, err
		}
		switch strings.TrimSpace(r.consent.EmergencyOverride) {
		case "", "false", "0":
		case "true", "1":
			call.EmergencyOverride = true
		default:
			return medcard.Call{}, medcard.Errorf(medcard.FaultInvalidField, "EmergencyOverride must be true or false")
		}
	}
	return call, nil
}
