package robustness

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file is the suite's SOAP client: a small envelope writer with an
// explicit MessageID (loadgen's writer draws its own) and an answer parser
// that keeps what the history needs. Each send carries a fresh
// WS-Security nonce and timestamp, since the gateway refuses a replayed
// nonce; the MessageID and the body stay the same across resends, which is
// what the gateway's idempotency keys on.

const (
	nsMedcard = "http://sharedmedcard.example/2026/01/medcard"
	nsEnv11   = "http://schemas.xmlsoap.org/soap/envelope/"
	pwDigest  = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	b64Binary = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-soap-message-security-1.0#Base64Binary"
)

// identity is who the clients call as: the demo GP system.
var identity = struct{ system, secret, org, role string }{"demo-gp", "demo-secret", "SOR:483711000016009", "Doctor"}

// soapRequest is one logical request: its operation, MessageID and body
// (the wrapper element's children), the same for every resend.
type soapRequest struct {
	op        string
	messageID string
	body      string
}

func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func el(name, value string) string { return "<mc:" + name + ">" + value + "</mc:" + name + ">" }

func getCardRequest(person string) soapRequest {
	return soapRequest{op: "GetMedicineCard", messageID: newMessageID(), body: el("PersonIdentifier", person)}
}

// createDrugMedicationRequest adds a drug medication whose indication text
// is tag, based on card version base.
func createDrugMedicationRequest(person string, base int64, tag, today string) soapRequest {
	body := el("PersonIdentifier", person) + el("MedicineCardVersion", strconv.FormatInt(base, 10)) +
		`<mc:DrugMedication><mc:Drug><mc:Identifier>28100636072</mc:Identifier><mc:Name>Pinex</mc:Name>` +
		`<mc:Form>tabletter</mc:Form><mc:Strength>500 mg</mc:Strength><mc:ATCCode>N02BE01</mc:ATCCode></mc:Drug>` +
		`<mc:Dosage><mc:Text>2 tabletter ved behov</mc:Text></mc:Dosage>` +
		`<mc:Indication><mc:Text>` + xmlText(tag) + `</mc:Text></mc:Indication>` +
		el("BeginDate", today) + `</mc:DrugMedication>`
	return soapRequest{op: "CreateDrugMedication", messageID: newMessageID(), body: body}
}

// envelope writes the request with a fresh password digest.
func (r soapRequest) envelope(now time.Time) []byte {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	created := now.UTC().Format(time.RFC3339Nano)
	h := sha1.New()
	h.Write(nonce[:])
	h.Write([]byte(created))
	h.Write([]byte(identity.secret))
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="` + nsEnv11 + `" xmlns:mc="` + nsMedcard +
		`" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"` +
		` xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">` +
		`<s:Header><wsse:Security s:mustUnderstand="1"><wsse:UsernameToken><wsse:Username>` + identity.system +
		`</wsse:Username><wsse:Password Type="` + pwDigest + `">` + base64.StdEncoding.EncodeToString(h.Sum(nil)) +
		`</wsse:Password><wsse:Nonce EncodingType="` + b64Binary + `">` + base64.StdEncoding.EncodeToString(nonce[:]) +
		`</wsse:Nonce><wsu:Created>` + created + `</wsu:Created></wsse:UsernameToken></wsse:Security>` +
		`<mc:MessageHeader><mc:MessageID>` + r.messageID + `</mc:MessageID></mc:MessageHeader>` +
		`<mc:WhitelistingHeader><mc:SystemName>` + identity.system + `</mc:SystemName><mc:SystemVersion>robustness</mc:SystemVersion>` +
		`<mc:OrganisationIdentifier>` + identity.org + `</mc:OrganisationIdentifier><mc:RequestedRole>` + identity.role +
		`</mc:RequestedRole></mc:WhitelistingHeader></s:Header><s:Body><mc:` + r.op + `Request>` + r.body +
		`</mc:` + r.op + `Request></s:Body></s:Envelope>`)
	return b.Bytes()
}

// answer is what one send came back with.
type answer struct {
	// transport is set when no SOAP answer arrived (timeout, connection
	// refused or reset, a non-SOAP HTTP answer).
	transport error
	fault     bool
	faultID   string
	retryable bool
	version   int64
	tags      []string // GetMedicineCard: each drug medication's indication text
}

// definite reports whether the answer settles the request: a success or a
// fault that says it was not applied.
func (a answer) definite() bool { return a.transport == nil && (!a.fault || !a.retryable) }

type soapClient struct {
	http *http.Client
}

func newSOAPClient(timeout time.Duration) *soapClient {
	return &soapClient{http: &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
	}}}
}

// send posts r to endpoint once.
func (c *soapClient) send(ctx context.Context, endpoint string, r soapRequest) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(r.envelope(time.Now())))
	if err != nil {
		return answer{transport: err}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+nsMedcard+"/"+r.op+`"`)
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{transport: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return answer{transport: err}
	}
	a, err := parseAnswer(body)
	if err != nil {
		return answer{transport: fmt.Errorf("HTTP %d, unparsable answer: %w", resp.StatusCode, err)}
	}
	if !a.fault && resp.StatusCode != http.StatusOK {
		return answer{transport: fmt.Errorf("HTTP %d without a fault", resp.StatusCode)}
	}
	return a
}

// envelopeOut is the part of an answer envelope the suite reads; names
// match by local name.
type envelopeOut struct {
	Body struct {
		Fault *struct {
			FaultCode string `xml:"faultcode"`
			Detail    struct {
				MedicineCardFault struct {
					FaultIdentifier string `xml:"FaultIdentifier"`
					Retryable       bool   `xml:"Retryable"`
				} `xml:"MedicineCardFault"`
			} `xml:"detail"`
		} `xml:"Fault"`
		Card *struct {
			MedicineCard struct {
				MedicineCardVersion int64 `xml:"MedicineCardVersion"`
				DrugMedication      []struct {
					Indication struct {
						Text string `xml:"Text"`
					} `xml:"Indication"`
				} `xml:"DrugMedication"`
			} `xml:"MedicineCard"`
		} `xml:"GetMedicineCardResponse"`
		Create *struct {
			MedicineCardVersion int64 `xml:"MedicineCardVersion"`
		} `xml:"CreateDrugMedicationResponse"`
	} `xml:"Body"`
}

func parseAnswer(body []byte) (answer, error) {
	var env envelopeOut
	if err := xml.Unmarshal(body, &env); err != nil {
		return answer{}, err
	}
	switch b := env.Body; {
	case b.Fault != nil:
		id := b.Fault.Detail.MedicineCardFault.FaultIdentifier
		if id == "" {
			id = b.Fault.FaultCode
		}
		return answer{fault: true, faultID: id, retryable: b.Fault.Detail.MedicineCardFault.Retryable}, nil
	case b.Card != nil:
		a := answer{version: b.Card.MedicineCard.MedicineCardVersion, tags: []string{}}
		for _, dm := range b.Card.MedicineCard.DrugMedication {
			a.tags = append(a.tags, dm.Indication.Text)
		}
		return a, nil
	case b.Create != nil:
		return answer{version: b.Create.MedicineCardVersion}, nil
	}
	return answer{}, errors.New("neither a fault nor a known response")
}
