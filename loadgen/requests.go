package loadgen

import (
	"strconv"

	"github.com/sharedmedcard/gateway/internal/soapclient"
)

// soapIdentity is id as the SOAP client writes it into a request.
func (id Identity) soapIdentity() soapclient.Identity {
	return soapclient.Identity{System: id.System, Secret: id.Secret, SystemVersion: "loadgen",
		Organisation: id.Organisation, Role: id.Role}
}

// The body* functions build the wrapper elements' children. Person
// identifiers are ten digits and need no escaping; the other values are
// numbers or our own constants.

func elem(name, value string) string { return "<mc:" + name + ">" + value + "</mc:" + name + ">" }

func personVersion(person string, version int64) string {
	return elem("PersonIdentifier", person) + elem("MedicineCardVersion", strconv.FormatInt(version, 10))
}

func bodyGetMedicineCard(person string, includePrescriptions bool) string {
	if includePrescriptions {
		return elem("PersonIdentifier", person) + elem("IncludePrescriptions", "true")
	}
	return elem("PersonIdentifier", person)
}

func bodyGetPrescription(person string) string { return elem("PersonIdentifier", person) }

// benchDrug is what the generator prescribes and adds to cards: a real
// formulary entry of the seed data.
const benchDrug = `<mc:Drug><mc:Identifier>28100636072</mc:Identifier><mc:Name>Pinex</mc:Name>` +
	`<mc:Form>tabletter</mc:Form><mc:Strength>500 mg</mc:Strength><mc:ATCCode>N02BE01</mc:ATCCode></mc:Drug>`

func bodyCreateDrugMedication(person string, version int64, today string) string {
	return personVersion(person, version) + `<mc:DrugMedication>` + benchDrug +
		`<mc:Dosage><mc:Text>2 tabletter ved behov, højst 4 gange daglig</mc:Text></mc:Dosage>` +
		`<mc:Indication><mc:Text>mod smerter</mc:Text></mc:Indication>` +
		elem("BeginDate", today) + `</mc:DrugMedication>`
}

func bodyPauseDrugMedication(person string, version, dm int64) string {
	return personVersion(person, version) + elem("DrugMedicationIdentifier", strconv.FormatInt(dm, 10))
}

// createPrescription prescribes a hundred dispensings (the first and 99
// iterations) of one package with no interval between them.
func bodyCreatePrescription(person string, version int64) string {
	return personVersion(person, version) + benchDrug + elem("PackageNumber", "043298") +
		elem("PackageQuantity", "1") + elem("Iterations", strconv.Itoa(rxIterations)) +
		elem("IterationIntervalDays", "0") + elem("DosageText", "2 tabletter ved behov")
}

// rxIterations is the iterations of the generator's prescriptions, the most
// the service allows: each gives 1+rxIterations dispensings.
const rxIterations = 99

func bodyCreateOrder(person string, version, rx int64) string {
	return personVersion(person, version) + elem("PrescriptionIdentifier", strconv.FormatInt(rx, 10))
}

func bodyOrderAction(person string, version, order int64) string {
	return personVersion(person, version) + elem("OrderIdentifier", strconv.FormatInt(order, 10))
}

func bodyCreatePharmacyEffectuation(person string, version, order int64) string {
	return personVersion(person, version) + elem("OrderIdentifier", strconv.FormatInt(order, 10)) + elem("PackagesDispensed", "1")
}
