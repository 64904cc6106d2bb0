package robustness

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sharedmedcard/gateway/internal/soapclient"
)

// This file is the suite's side of the SOAP exchange; internal/soapclient
// writes the envelopes and reads the faults. A request carries an explicit
// MessageID, and the MessageID and the body stay the same across resends,
// which is what the gateway's idempotency keys on; each send carries a
// fresh WS-Security nonce and timestamp, since the gateway refuses a
// replayed nonce.

// identity is who the clients call as: the demo GP system.
var identity = soapclient.Identity{System: "demo-gp", Secret: "demo-secret", SystemVersion: "robustness",
	Organisation: "SOR:483711000016009", Role: "Doctor"}

func newRequest(op, params string) soapclient.Request {
	return soapclient.Request{Operation: op, Params: params, Identity: identity, MessageID: soapclient.NewMessageID()}
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func el(name, value string) string { return "<mc:" + name + ">" + value + "</mc:" + name + ">" }

func getCardRequest(person string) soapclient.Request {
	return newRequest("GetMedicineCard", el("PersonIdentifier", person))
}

// createDrugMedicationRequest adds a drug medication whose indication text
// is tag, based on card version base.
func createDrugMedicationRequest(person string, base int64, tag, today string) soapclient.Request {
	return newRequest("CreateDrugMedication", el("PersonIdentifier", person)+el("MedicineCardVersion", strconv.FormatInt(base, 10))+
		`<mc:DrugMedication><mc:Drug><mc:Identifier>28100636072</mc:Identifier><mc:Name>Pinex</mc:Name>`+
		`<mc:Form>tabletter</mc:Form><mc:Strength>500 mg</mc:Strength><mc:ATCCode>N02BE01</mc:ATCCode></mc:Drug>`+
		`<mc:Dosage><mc:Text>2 tabletter ved behov</mc:Text></mc:Dosage>`+
		`<mc:Indication><mc:Text>`+xmlText(tag)+`</mc:Text></mc:Indication>`+
		el("BeginDate", today)+`</mc:DrugMedication>`)
}

// answer is what one send came back with.
type answer struct {
	// transport is set when no SOAP answer arrived (timeout, connection
	// refused or reset, a non-SOAP HTTP answer).
	transport error
	fault     bool
	faultID   string // the FaultIdentifier, else the SOAP fault code
	retryable bool
	version   int64
	tags      []string // GetMedicineCard: each drug medication's indication text
}

// definite reports whether the answer settles the request: a success or a
// fault that says it was not applied.
func (a answer) definite() bool { return a.transport == nil && (!a.fault || !a.retryable) }

func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
	}}
}

// send posts r to endpoint once.
func send(ctx context.Context, hc *http.Client, endpoint string, r *soapclient.Request) answer {
	var resp soapclient.Response
	if err := soapclient.New(endpoint, hc).Do(ctx, r, &resp); err != nil {
		return answer{transport: err}
	}
	if f := resp.Fault; f != nil {
		id := f.Identifier
		if id == "" {
			id = f.Code
		}
		return answer{fault: true, faultID: id, retryable: f.Retryable}
	}
	if err := resp.Err(); err != nil {
		return answer{transport: err}
	}
	a, err := parseAnswer(resp.Body)
	if err != nil {
		return answer{transport: fmt.Errorf("HTTP %d, unparsable answer: %w", resp.Status, err)}
	}
	return a
}

// bodyOut is the part of a success answer's Body the suite reads; names
// match by local name.
type bodyOut struct {
	XMLName xml.Name
	// GetMedicineCardResponse
	Card struct {
		MedicineCardVersion int64 `xml:"MedicineCardVersion"`
		DrugMedication      []struct {
			Indication struct {
				Text string `xml:"Text"`
			} `xml:"Indication"`
		} `xml:"DrugMedication"`
	} `xml:"MedicineCard"`
	// CreateDrugMedicationResponse
	MedicineCardVersion int64 `xml:"MedicineCardVersion"`
}

func parseAnswer(envelope []byte) (answer, error) {
	var b bodyOut
	if err := soapclient.DecodeBody(envelope, &b); err != nil {
		return answer{}, err
	}
	switch b.XMLName.Local {
	case "GetMedicineCardResponse":
		a := answer{version: b.Card.MedicineCardVersion, tags: []string{}}
		for _, dm := range b.Card.DrugMedication {
			a.tags = append(a.tags, dm.Indication.Text)
		}
		return a, nil
	case "CreateDrugMedicationResponse":
		return answer{version: b.MedicineCardVersion}, nil
	}
	return answer{}, errors.New("neither a fault nor a known response")
}
