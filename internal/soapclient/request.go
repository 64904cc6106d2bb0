package soapclient

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"time"
)

// Namespaces of the envelopes the client writes and reads.
const (
	// Namespace is the gateway's one target namespace (prefix mc).
	Namespace = "http://sharedmedcard.example/2026/01/medcard"

	NamespaceSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	NamespaceSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	NamespaceWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NamespaceWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	NamespaceWSA    = "http://www.w3.org/2005/08/addressing"

	// AnonymousAddress is the WS-Addressing ReplyTo of a client that reads
	// its answer from the HTTP response, the only one the gateway accepts.
	AnonymousAddress = "http://www.w3.org/2005/08/addressing/anonymous"

	passwordDigestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	passwordTextType   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
	base64BinaryType   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-soap-message-security-1.0#Base64Binary"
)

// Version is the SOAP version of an envelope. The zero value is SOAP 1.1.
type Version int

// SOAP versions.
const (
	SOAP11 Version = iota
	SOAP12
)

func (v Version) String() string {
	if v == SOAP12 {
		return "1.2"
	}
	return "1.1"
}

// Namespace is the envelope namespace of v.
func (v Version) Namespace() string {
	if v == SOAP12 {
		return NamespaceSOAP12
	}
	return NamespaceSOAP11
}

// ContentType is the HTTP Content-Type of a request of version v for
// action (SOAP 1.2 carries the action in it; "" leaves it out).
func (v Version) ContentType(action string) string {
	switch {
	case v != SOAP12:
		return "text/xml; charset=utf-8"
	case action == "":
		return "application/soap+xml; charset=utf-8"
	}
	return `application/soap+xml; charset=utf-8; action="` + action + `"`
}

// Identity is an integrating system calling in an organisation and a role:
// the UsernameToken and the WhitelistingHeader.
type Identity struct {
	System string // wsse:Username and mc:SystemName
	Secret string
	// SystemVersion and OrganisationName are left out when empty.
	SystemVersion    string
	Organisation     string // mc:OrganisationIdentifier
	OrganisationName string
	Role             string // mc:RequestedRole
}

// Security is what the wsse:Security header carries.
type Security int

const (
	// DigestToken is a UsernameToken with a PasswordDigest over a fresh
	// nonce and created time, new on every send.
	DigestToken Security = iota
	// TextToken is a UsernameToken with the secret as PasswordText.
	TextToken
	// NoSecurity leaves the UsernameToken out (and the Security header, if
	// the request asks for no Timestamp either).
	NoSecurity
)

// OnBehalfOf names the authorised person a system acts for.
type OnBehalfOf struct {
	AuthorisationIdentifier string
	Role                    string
}

// Addressing are the WS-Addressing 1.0 headers WCF's WSHttpBinding and
// custom bindings send.
type Addressing struct {
	// Action is wsa:Action; "" is the operation's SOAP action.
	Action string
	// MessageID is wsa:MessageID; "" is a fresh urn:uuid.
	MessageID string
	// To is wsa:To; "" is the client's endpoint.
	To string
	// ReplyTo is the address of wsa:ReplyTo (AnonymousAddress, as WCF
	// sends); "" leaves ReplyTo out.
	ReplyTo string
	// MustUnderstand marks Action and To mustUnderstand="1", as WCF does.
	MustUnderstand bool
}

// Request is one SOAP request. The zero value (with a Body) is a SOAP 1.1
// request with a password digest and no MessageHeader.
type Request struct {
	Version Version
	// Operation names the operation, e.g. "GetMedicineCard": it gives the
	// SOAP action (SOAPAction, the 1.2 action parameter, wsa:Action) and,
	// when Body is empty, the wrapper element mc:{Operation}Request.
	Operation string
	// Params are the wrapper element's children, XML written as it stands
	// (prefix mc).
	Params string
	// Body, if set, is the whole content of soap:Body, written as it
	// stands; Params are then ignored. The envelope declares the prefix mc,
	// so a body may use it, or declare its own namespaces (xml.Marshal of a
	// generated request type).
	Body string
	// Raw, if set, is sent as it stands instead of an envelope built from
	// the fields above; Version and Operation still give the HTTP headers.
	Raw []byte

	Identity Identity
	Security Security
	// Timestamp, if above 0, adds a wsu:Timestamp to the Security header,
	// created now and expiring after Timestamp.
	Timestamp time.Duration
	// MessageID is mc:MessageHeader/MessageID, which a resend keeps; with
	// neither it nor FlowID the MessageHeader is left out.
	MessageID string
	FlowID    string
	// OnBehalfOf, if set, adds the mc:OnBehalfOf header.
	OnBehalfOf *OnBehalfOf
	// Addressing, if set, adds the WS-Addressing headers.
	Addressing *Addressing
	// ExtraHeaders are header blocks written as they stand after ours
	// (prefix s is the envelope's).
	ExtraHeaders string
	// HTTPHeader are HTTP headers set on the request after ours.
	HTTPHeader http.Header
}

// Action is the request's SOAP action as the WSDL's bindings name it, or
// "" without an Operation.
func (r *Request) Action() string {
	if r.Operation == "" {
		return ""
	}
	return Namespace + "/" + r.Operation
}

// NewMessageID returns a fresh MessageID: 128 random bits in hex.
func NewMessageID() string {
	var b [16]byte
	randomBytes(nil, b[:])
	return hex.EncodeToString(b[:])
}

// writeEnvelope writes r's envelope into b, created at now, to endpoint
// (the default wsa:To). It is on the load generator's hot path, so the
// token is built in stack buffers.
func (c *Client) writeEnvelope(b *bytes.Buffer, r *Request, now time.Time) {
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="`)
	b.WriteString(r.Version.Namespace())
	b.WriteString(`" xmlns:mc="` + Namespace + `" xmlns:wsse="` + NamespaceWSSE + `" xmlns:wsu="` + NamespaceWSU + `"`)
	if r.Addressing != nil {
		b.WriteString(` xmlns:wsa="` + NamespaceWSA + `"`)
	}
	b.WriteString(`><s:Header>`)
	c.writeSecurity(b, r, now)
	if a := r.Addressing; a != nil {
		c.writeAddressing(b, r, a)
	}
	if r.MessageID != "" || r.FlowID != "" {
		b.WriteString(`<mc:MessageHeader>`)
		element(b, "mc:MessageID", r.MessageID)
		element(b, "mc:FlowID", r.FlowID)
		b.WriteString(`</mc:MessageHeader>`)
	}
	id := &r.Identity
	b.WriteString(`<mc:WhitelistingHeader>`)
	element(b, "mc:SystemName", id.System)
	element(b, "mc:SystemVersion", id.SystemVersion)
	element(b, "mc:OrganisationIdentifier", id.Organisation)
	element(b, "mc:OrganisationName", id.OrganisationName)
	element(b, "mc:RequestedRole", id.Role)
	b.WriteString(`</mc:WhitelistingHeader>`)
	if o := r.OnBehalfOf; o != nil {
		b.WriteString(`<mc:OnBehalfOf>`)
		element(b, "mc:AuthorisationIdentifier", o.AuthorisationIdentifier)
		element(b, "mc:Role", o.Role)
		b.WriteString(`</mc:OnBehalfOf>`)
	}
	b.WriteString(r.ExtraHeaders)
	b.WriteString(`</s:Header><s:Body>`)
	switch {
	case r.Body != "":
		b.WriteString(r.Body)
	case r.Operation != "":
		b.WriteString(`<mc:`)
		b.WriteString(r.Operation)
		b.WriteString(`Request>`)
		b.WriteString(r.Params)
		b.WriteString(`</mc:`)
		b.WriteString(r.Operation)
		b.WriteString(`Request>`)
	}
	b.WriteString(`</s:Body></s:Envelope>`)
}

func (c *Client) writeSecurity(b *bytes.Buffer, r *Request, now time.Time) {
	if r.Security == NoSecurity && r.Timestamp <= 0 {
		return
	}
	now = now.UTC()
	var createdBuf [48]byte
	created := now.AppendFormat(createdBuf[:0], time.RFC3339Nano)
	b.WriteString(`<wsse:Security s:mustUnderstand="1">`)
	if r.Timestamp > 0 {
		var expiresBuf [48]byte
		b.WriteString(`<wsu:Timestamp><wsu:Created>`)
		b.Write(created)
		b.WriteString(`</wsu:Created><wsu:Expires>`)
		b.Write(now.Add(r.Timestamp).AppendFormat(expiresBuf[:0], time.RFC3339Nano))
		b.WriteString(`</wsu:Expires></wsu:Timestamp>`)
	}
	switch r.Security {
	case TextToken:
		b.WriteString(`<wsse:UsernameToken>`)
		element(b, "wsse:Username", r.Identity.System)
		b.WriteString(`<wsse:Password Type="` + passwordTextType + `">`)
		text(b, r.Identity.Secret)
		b.WriteString(`</wsse:Password></wsse:UsernameToken>`)
	case DigestToken:
		var nonce [16]byte
		randomBytes(c.random, nonce[:])
		var in [128]byte
		sum := sha1.Sum(append(append(append(in[:0], nonce[:]...), created...), r.Identity.Secret...))
		var enc [28]byte // base64 of 20 bytes; a nonce's 24 fit too
		b.WriteString(`<wsse:UsernameToken>`)
		element(b, "wsse:Username", r.Identity.System)
		b.WriteString(`<wsse:Password Type="` + passwordDigestType + `">`)
		base64.StdEncoding.Encode(enc[:], sum[:])
		b.Write(enc[:])
		b.WriteString(`</wsse:Password><wsse:Nonce EncodingType="` + base64BinaryType + `">`)
		base64.StdEncoding.Encode(enc[:], nonce[:])
		b.Write(enc[:base64.StdEncoding.EncodedLen(len(nonce))])
		b.WriteString(`</wsse:Nonce><wsu:Created>`)
		b.Write(created)
		b.WriteString(`</wsu:Created></wsse:UsernameToken>`)
	}
	b.WriteString(`</wsse:Security>`)
}

func (c *Client) writeAddressing(b *bytes.Buffer, r *Request, a *Addressing) {
	mustUnderstand := ""
	if a.MustUnderstand {
		mustUnderstand = ` s:mustUnderstand="1"`
	}
	action := a.Action
	if action == "" {
		action = r.Action()
	}
	if action != "" {
		b.WriteString(`<wsa:Action`)
		b.WriteString(mustUnderstand)
		b.WriteString(`>`)
		text(b, action)
		b.WriteString(`</wsa:Action>`)
	}
	id := a.MessageID
	if id == "" {
		id = newUUID(c.random)
	}
	element(b, "wsa:MessageID", id)
	if a.ReplyTo != "" {
		b.WriteString(`<wsa:ReplyTo>`)
		element(b, "wsa:Address", a.ReplyTo)
		b.WriteString(`</wsa:ReplyTo>`)
	}
	to := a.To
	if to == "" {
		to = c.Endpoint
	}
	b.WriteString(`<wsa:To`)
	b.WriteString(mustUnderstand)
	b.WriteString(`>`)
	text(b, to)
	b.WriteString(`</wsa:To>`)
}

// element writes <name>value</name>, or nothing for an empty value.
func element(b *bytes.Buffer, name, value string) {
	if value == "" {
		return
	}
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
	text(b, value)
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}

// text writes s escaped as XML character data. Values are mostly plain
// ASCII (names, codes, identifiers), written without a copy.
func text(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			b.WriteString(s[:i])
			_ = xml.EscapeText(b, []byte(s[i:])) // writes to a bytes.Buffer never fail
			return
		}
	}
	b.WriteString(s)
}
