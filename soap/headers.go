package soap

// Our own header blocks, after the Danish medicine card's: a message header
// with the MessageID a resend keeps, a whitelisting header naming the
// calling system and the requested role, an optional on-behalf-of header
// naming the person acting, and an optional consent header (consent and
// emergency override). Every element in them must be in our
// namespace (package envelope checks). The WS-Security and WS-Addressing
// headers are package envelope's.

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

// consentHeader is the FMK-style ConsentHeader: the citizen's consent as
// the caller declares it (None, Given, Withdrawn) and whether it asks for
// an emergency override. Both are read as text, so that a bad value is an
// InvalidFieldValue fault naming the field (consent).
type consentHeader struct {
	Consent           string `xml:"Consent"`
	EmergencyOverride string `xml:"EmergencyOverride"`
}
