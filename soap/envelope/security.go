package envelope

import (
	"strings"
	"time"
)

// WS-Security UsernameToken password types.
const (
	PasswordDigest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	PasswordText   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)

// Security is the wsse:Security header block targeted at us: a
// UsernameToken and, from WCF and other WS-Security stacks, a
// wsu:Timestamp. Checking the token is the application's job.
type Security struct {
	UsernameToken *UsernameToken `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd UsernameToken"`
	Timestamp     *Timestamp     `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Timestamp"`
}

// UsernameToken is wsse:UsernameToken, as the UsernameToken profile 1.0
// has it.
type UsernameToken struct {
	Username string   `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Username"`
	Password Password `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Password"`
	Nonce    string   `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Nonce"`
	Created  string   `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
}

// Password is wsse:Password: its Type (PasswordText if empty) and value.
type Password struct {
	Type  string `xml:"Type,attr"`
	Value string `xml:",chardata"`
}

// Timestamp is wsu:Timestamp: when the message was made and when it stops
// being valid, both optional.
type Timestamp struct {
	Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
	Expires string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Expires"`
}

// Check refuses a timestamp that expired, or was made in the future, by
// more than skew by the clock now.
//
// Errors: Expired, InvalidTimestamp.
func (t *Timestamp) Check(now time.Time, skew time.Duration) error {
	minutes := int(skew / time.Minute)
	created, hasCreated, err := timestampField("Created", t.Created)
	if err != nil {
		return err
	}
	expires, hasExpires, err := timestampField("Expires", t.Expires)
	if err != nil {
		return err
	}
	if hasCreated && created.Sub(now) > skew {
		return errorf(InvalidTimestamp, "the wsu:Timestamp's Created is more than %d minutes ahead of our clock", minutes)
	}
	if hasCreated && hasExpires && expires.Before(created) {
		return errorf(InvalidTimestamp, "the wsu:Timestamp expires before it was created")
	}
	if hasExpires && now.Sub(expires) > skew {
		return errorf(Expired, "the message expired (wsu:Timestamp/Expires) more than %d minutes ago by our clock", minutes)
	}
	return nil
}

// timestampField parses one of a timestamp's times, an xs:dateTime with a
// zone; false: it is absent.
func timestampField(field, value string) (time.Time, bool, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return time.Time{}, false, errorf(InvalidTimestamp, "the wsu:Timestamp's %s is not an xs:dateTime with a zone", field)
	}
	return t, true, nil
}
