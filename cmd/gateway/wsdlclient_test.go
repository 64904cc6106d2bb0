package main

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	gowsdl "github.com/hooklift/gowsdl/soap"

	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/internal/wsdlclient"
)

// TestGeneratedClient calls both operations with the client gowsdl v0.5.0
// generated from our WSDL: a client that knows nothing but the WSDL. Its
// UsernameToken is a PasswordText, so it calls over HTTPS.
func TestGeneratedClient(t *testing.T) {
	requireEnv(t)
	gw := startHTTPSGateway(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	person := freshPerson(t)

	newPort := func(messageID string) wsdlclient.MedicineCardPortType {
		client := gowsdl.NewClient(gw.endpoint, gowsdl.WithTimeout(5*time.Second), gowsdl.WithTLS(&tls.Config{RootCAs: gw.roots}))
		client.AddHeader(gowsdl.NewWSSSecurityHeader("demo-gp", "demo-secret", "", "1"))
		client.AddHeader(&wsdlclient.MessageHeader{MessageID: messageID})
		client.AddHeader(&wsdlclient.WhitelistingHeader{SystemName: "demo-gp", OrganisationIdentifier: "SOR:483711000016009", RequestedRole: "Doctor"})
		return wsdlclient.NewMedicineCardPortType(client)
	}

	personID := wsdlclient.PersonIdentifierType(person)
	created, err := newPort(soapclient.NewMessageID()).CreateDrugMedicationContext(ctx, &wsdlclient.CreateDrugMedicationRequest{
		PersonIdentifier:    &personID,
		MedicineCardVersion: 0,
		DrugMedication: &wsdlclient.NewDrugMedicationType{
			Drug:       &wsdlclient.DrugType{Identifier: "28100489874", Name: "Metformin", Strength: "500 mg"},
			Dosage:     &wsdlclient.DosageType{Text: "1 tablet 2 gange daglig"},
			Indication: &wsdlclient.IndicationType{Text: "mod sukkersyge"},
			BeginDate:  gowsdl.CreateXsdDate(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), false),
		},
	})
	if err != nil {
		t.Fatalf("CreateDrugMedication: %v", err)
	}
	if created.MedicineCardVersion != 1 || created.DrugMedicationIdentifier != 1 || created.DrugMedicationVersion != 1 {
		t.Errorf("CreateDrugMedication = %+v, want card version 1, item 1 at version 1", created)
	}

	got, err := newPort(soapclient.NewMessageID()).GetMedicineCardContext(ctx, &wsdlclient.GetMedicineCardRequest{PersonIdentifier: &personID})
	if err != nil {
		t.Fatalf("GetMedicineCard: %v", err)
	}
	card := got.MedicineCard
	if card == nil || card.MedicineCardVersion != 1 || len(card.DrugMedication) != 1 {
		t.Fatalf("GetMedicineCard = %+v, want version 1 with one drug medication", card)
	}
	dm := card.DrugMedication[0]
	if dm.Drug == nil || dm.Drug.Name != "Metformin" || dm.Status == nil || *dm.Status != wsdlclient.DrugMedicationStatusTypeActive {
		t.Errorf("drug medication = %+v, want active Metformin", dm)
	}
}
