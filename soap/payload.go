package soap

import (
	"encoding/xml"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// The operations' payloads, one struct per wrapper element of wsdl/medcard.wsdl.
// Only wrapper elements name the namespace: their children inherit it as
// the default namespace when we answer (elementFormDefault="qualified").
// Required elements have no omitempty, so a zero or false is still sent.

// GetMedicineCardRequest is the GetMedicineCard input.
type GetMedicineCardRequest struct {
	XMLName               xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard GetMedicineCardRequest"`
	PersonIdentifier      string   `xml:"PersonIdentifier"`
	IncludePrescriptions  bool     `xml:"IncludePrescriptions"`
	IncludeEffectuations  bool     `xml:"IncludeEffectuations"`
	IncludeWithdrawnSince string   `xml:"IncludeWithdrawnSince"`
}

// GetMedicineCardResponse is the GetMedicineCard output.
type GetMedicineCardResponse struct {
	XMLName      xml.Name        `xml:"http://sharedmedcard.example/2026/01/medcard GetMedicineCardResponse"`
	MedicineCard xmlMedicineCard `xml:"MedicineCard"`
}

// CreateDrugMedicationRequest is the CreateDrugMedication input.
type CreateDrugMedicationRequest struct {
	XMLName             xml.Name             `xml:"http://sharedmedcard.example/2026/01/medcard CreateDrugMedicationRequest"`
	PersonIdentifier    string               `xml:"PersonIdentifier"`
	MedicineCardVersion int64                `xml:"MedicineCardVersion"`
	DrugMedication      xmlNewDrugMedication `xml:"DrugMedication"`
}

// CreateDrugMedicationResponse is the CreateDrugMedication output.
type CreateDrugMedicationResponse struct {
	XMLName                  xml.Name     `xml:"http://sharedmedcard.example/2026/01/medcard CreateDrugMedicationResponse"`
	MedicineCardVersion      int64        `xml:"MedicineCardVersion"`
	DrugMedicationIdentifier int64        `xml:"DrugMedicationIdentifier"`
	DrugMedicationVersion    int64        `xml:"DrugMedicationVersion"`
	Warning                  []xmlWarning `xml:"Warning"`
}

type xmlNewDrugMedication struct {
	Drug       xmlDrug       `xml:"Drug"`
	Dosage     xmlDosage     `xml:"Dosage"`
	Indication xmlIndication `xml:"Indication"`
	BeginDate  string        `xml:"BeginDate"`
	EndDate    string        `xml:"EndDate,omitempty"`
}

type xmlMedicineCard struct {
	PersonIdentifier    string              `xml:"PersonIdentifier"`
	MedicineCardVersion int64               `xml:"MedicineCardVersion"`
	DrugMedication      []xmlDrugMedication `xml:"DrugMedication"`
	Prescription        []xmlPrescription   `xml:"Prescription"`
}

type xmlDrugMedication struct {
	Identifier           int64         `xml:"Identifier"`
	Version              int64         `xml:"Version"`
	ChangedInCardVersion int64         `xml:"ChangedInCardVersion"`
	Status               string        `xml:"Status"`
	Drug                 xmlDrug       `xml:"Drug"`
	Dosage               xmlDosage     `xml:"Dosage"`
	Indication           xmlIndication `xml:"Indication"`
	BeginDate            string        `xml:"BeginDate"`
	EndDate              string        `xml:"EndDate,omitempty"`
	Created              xmlStamp      `xml:"Created"`
	Modified             xmlStamp      `xml:"Modified"`
}

type xmlPrescription struct {
	Identifier               int64    `xml:"Identifier"`
	Version                  int64    `xml:"Version"`
	ChangedInCardVersion     int64    `xml:"ChangedInCardVersion"`
	DrugMedicationIdentifier int64    `xml:"DrugMedicationIdentifier,omitempty"`
	Status                   string   `xml:"Status"`
	Drug                     xmlDrug  `xml:"Drug"`
	PackageNumber            string   `xml:"PackageNumber"`
	PackageQuantity          int      `xml:"PackageQuantity"`
	Iterations               int      `xml:"Iterations"`
	IterationIntervalDays    int      `xml:"IterationIntervalDays"`
	ValidFrom                string   `xml:"ValidFrom"`
	ValidTo                  string   `xml:"ValidTo"`
	DosageText               string   `xml:"DosageText"`
	Created                  xmlStamp `xml:"Created"`
}

type xmlDrug struct {
	Identifier string `xml:"Identifier"`
	Name       string `xml:"Name"`
	Form       string `xml:"Form,omitempty"`
	Strength   string `xml:"Strength,omitempty"`
	ATCCode    string `xml:"ATCCode,omitempty"`
}

type xmlDosage struct {
	Text string `xml:"Text"`
}

type xmlIndication struct {
	Code string `xml:"Code,omitempty"`
	Text string `xml:"Text"`
}

type xmlStamp struct {
	AuthorisationIdentifier string    `xml:"AuthorisationIdentifier,omitempty"`
	Role                    string    `xml:"Role"`
	Organisation            string    `xml:"Organisation"`
	System                  string    `xml:"System"`
	Time                    time.Time `xml:"Time"`
}

type xmlWarning struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func (d xmlDrug) domain() medcard.Drug {
	return medcard.Drug{Identifier: d.Identifier, Name: d.Name, Form: d.Form, Strength: d.Strength, ATCCode: d.ATCCode}
}

func toXMLDrug(d medcard.Drug) xmlDrug {
	return xmlDrug{Identifier: d.Identifier, Name: d.Name, Form: d.Form, Strength: d.Strength, ATCCode: d.ATCCode}
}

func toXMLStamp(s medcard.Stamp) xmlStamp {
	return xmlStamp{AuthorisationIdentifier: s.By.AuthorisationID, Role: string(s.By.Role),
		Organisation: s.By.Organisation, System: s.By.System, Time: s.At.UTC()}
}

func toXMLWarnings(ws []medcard.Warning) []xmlWarning {
	out := make([]xmlWarning, 0, len(ws))
	for _, w := range ws {
		out = append(out, xmlWarning{Code: string(w.Code), Message: w.Message})
	}
	return out
}

func toXMLCard(c *medcard.Card) xmlMedicineCard {
	out := xmlMedicineCard{PersonIdentifier: string(c.PersonID), MedicineCardVersion: c.Version}
	for _, dm := range c.DrugMedications {
		out.DrugMedication = append(out.DrugMedication, xmlDrugMedication{
			Identifier: dm.ID, Version: dm.Version, ChangedInCardVersion: dm.CardVersion, Status: string(dm.Status),
			Drug: toXMLDrug(dm.Drug), Dosage: xmlDosage{Text: dm.Dosage.Text},
			Indication: xmlIndication{Code: dm.Indication.Code, Text: dm.Indication.Text},
			BeginDate:  string(dm.BeginDate), EndDate: string(dm.EndDate),
			Created: toXMLStamp(dm.Created), Modified: toXMLStamp(dm.Modified),
		})
	}
	for _, p := range c.Prescriptions {
		out.Prescription = append(out.Prescription, xmlPrescription{
			Identifier: p.ID, Version: p.Version, ChangedInCardVersion: p.CardVersion,
			DrugMedicationIdentifier: p.DrugMedicationID, Status: string(p.Status), Drug: toXMLDrug(p.Drug),
			PackageNumber: p.PackageNumber, PackageQuantity: p.PackageQuantity, Iterations: p.Iterations,
			IterationIntervalDays: p.IterationIntervalDays, ValidFrom: string(p.ValidFrom), ValidTo: string(p.ValidTo),
			DosageText: p.DosageText, Created: toXMLStamp(p.Created),
		})
	}
	return out
}
