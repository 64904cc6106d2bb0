package soap

// The header blocks we understand, after the Danish medicine card's: a
// WS-Security header, a message header with the MessageID a resend keeps, a
// whitelisting header naming the calling system and the requested role, and
// an optional on-behalf-of header naming the person acting. The elements of
// our own blocks must be in our namespace (limitedTokens.expectWithin);
// WS-Addressing's are in addressing.go.

// securityHeader is wsse:Security with a UsernameToken and, from WCF and
// other WS-Security stacks, a wsu:Timestamp.
type securityHeader struct {
	UsernameToken *usernameToken     `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd UsernameToken"`
	Timestamp     *securityTimestamp `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Timestamp"`
}

// securityTimestamp is wsu:Timestamp: when the message was made and when
// it stops being valid, both optional.
type securityTimestamp struct {
	Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
	Expires string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Expires"`
}

type usernameToken struct {
	Username string        `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Username"`
	Password tokenPassword `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Password"`
	Nonce    string        `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Nonce"`
	Created  string        `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
}

type tokenPassword struct {
	Type  string `xml:"Type,attr"`
	Value string `xml:",chardata"`
}

// messageHeader carries the MessageID that identifies a write across
// resends, and an optional FlowID tying related messages together.
type messageHeader struct {
	MessageID string `xml:"MessageID"`
	FlowID    string `xml:"FlowID"`
}

// whitelistingHeader names the calling system, the organisation using it
// and the role requested for this call.
type whitelistingHeader struct {
	SystemName             string `xml:"SystemName"`
	SystemVersion          string `xml:"SystemVersion"`
	OrganisationIdentifier string `xml:"OrganisationIdentifier"`
	OrganisationName       string `xml:"OrganisationName"`
	RequestedRole          string `xml:"RequestedRole"`
}

// onBehalfOfHeader names the authorised person a system acts for (a nurse
// acting for a doctor, say).
type onBehalfOfHeader struct {
	AuthorisationIdentifier string `xml:"AuthorisationIdentifier"`
	Role                    string `xml:"Role"`
}
