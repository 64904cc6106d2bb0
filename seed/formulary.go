package seed

import (
	"fmt"

	"github.com/sharedmedcard/gateway/medcard"
)

// product is one drug of the synthetic formulary: common Danish
// prescription drugs with made-up identifiers and package numbers.
type product struct {
	drug       medcard.Drug
	dosage     string
	indication string
	pack       string
	// alt is another dosage a doctor may change the treatment to.
	alt string
	// course is the length in days of a short treatment (antibiotics);
	// 0 is a long-term treatment.
	course int
	// weight is how often the drug is on a card, relative to the others.
	weight int
}

// formulary is the drugs the generator prescribes. The first ten are those
// of the first demo data; keep their order.
var formulary = []product{
	{medcard.Drug{Identifier: "28100636072", Name: "Pinex", Form: "tabletter", Strength: "500 mg", ATCCode: "N02BE01"}, "2 tabletter 3-4 gange daglig", "mod smerter", "043298", "2 tabletter 2 gange daglig", 0, 40},
	{medcard.Drug{Identifier: "28100489874", Name: "Metformin \"Teva\"", Form: "filmovertrukne tabletter", Strength: "500 mg", ATCCode: "A10BA02"}, "1 tablet 2 gange daglig", "mod sukkersyge", "170282", "2 tabletter 2 gange daglig", 0, 25},
	{medcard.Drug{Identifier: "28101004278", Name: "Amlodipin \"Sandoz\"", Form: "tabletter", Strength: "5 mg", ATCCode: "C08CA01"}, "1 tablet daglig", "mod forhøjet blodtryk", "438291", "2 tabletter daglig", 0, 35},
	{medcard.Drug{Identifier: "28100714281", Name: "Simvastatin \"Actavis\"", Form: "filmovertrukne tabletter", Strength: "40 mg", ATCCode: "C10AA01"}, "1 tablet daglig til aften", "mod forhøjet kolesterol", "097418", "", 0, 30},
	{medcard.Drug{Identifier: "28100822376", Name: "Pantoprazol \"Krka\"", Form: "enterotabletter", Strength: "40 mg", ATCCode: "A02BC02"}, "1 tablet daglig før morgenmad", "mod mavesyre", "524683", "1 tablet daglig ved behov", 0, 30},
	{medcard.Drug{Identifier: "28100563512", Name: "Hjertemagnyl", Form: "filmovertrukne tabletter", Strength: "75 mg", ATCCode: "B01AC06"}, "1 tablet daglig", "til forebyggelse af blodpropper", "011627", "", 0, 25},
	{medcard.Drug{Identifier: "28101121493", Name: "Sertralin \"Accord\"", Form: "filmovertrukne tabletter", Strength: "50 mg", ATCCode: "N06AB06"}, "1 tablet daglig", "mod depression", "386015", "2 tabletter daglig", 0, 20},
	{medcard.Drug{Identifier: "28100948102", Name: "Furix", Form: "tabletter", Strength: "40 mg", ATCCode: "C03CA01"}, "1 tablet om morgenen", "vanddrivende", "148791", "1 tablet morgen og middag", 0, 15},
	{medcard.Drug{Identifier: "28101087614", Name: "Eltroxin", Form: "tabletter", Strength: "100 mikrog", ATCCode: "H03AA01"}, "1 tablet daglig fastende", "mod for lavt stofskifte", "473829", "1½ tablet daglig fastende", 0, 15},
	{medcard.Drug{Identifier: "28100372810", Name: "Ventoline", Form: "inhalationspulver", Strength: "0,2 mg/dosis", ATCCode: "R03AC02"}, "1-2 inhalationer ved behov", "mod astma", "059233", "", 0, 20},
	{medcard.Drug{Identifier: "28100114562", Name: "Panodil", Form: "filmovertrukne tabletter", Strength: "1 g", ATCCode: "N02BE01"}, "1 tablet 3 gange daglig", "mod smerter", "118350", "1 tablet 4 gange daglig", 0, 30},
	{medcard.Drug{Identifier: "28100245903", Name: "Ibuprofen \"Stada\"", Form: "filmovertrukne tabletter", Strength: "400 mg", ATCCode: "M01AE01"}, "1 tablet 3 gange daglig ved behov", "mod smerter og betændelse", "526743", "", 0, 20},
	{medcard.Drug{Identifier: "28101325118", Name: "Losartan \"Krka\"", Form: "filmovertrukne tabletter", Strength: "50 mg", ATCCode: "C09CA01"}, "1 tablet daglig", "mod forhøjet blodtryk", "041226", "2 tabletter daglig", 0, 25},
	{medcard.Drug{Identifier: "28100907655", Name: "Enalapril \"Teva\"", Form: "tabletter", Strength: "10 mg", ATCCode: "C09AA02"}, "1 tablet daglig", "mod forhøjet blodtryk", "392114", "", 0, 12},
	{medcard.Drug{Identifier: "28101201037", Name: "Bisoprolol \"Teva\"", Form: "filmovertrukne tabletter", Strength: "5 mg", ATCCode: "C07AB07"}, "1 tablet daglig", "mod hjertesygdom", "177429", "½ tablet daglig", 0, 12},
	{medcard.Drug{Identifier: "28101410782", Name: "Atorvastatin \"Krka\"", Form: "filmovertrukne tabletter", Strength: "20 mg", ATCCode: "C10AA05"}, "1 tablet daglig", "mod forhøjet kolesterol", "454608", "2 tabletter daglig", 0, 30},
	{medcard.Drug{Identifier: "28100588210", Name: "Omeprazol \"Actavis\"", Form: "enterokapsler", Strength: "20 mg", ATCCode: "A02BC01"}, "1 kapsel daglig", "mod mavesyre", "080151", "", 0, 20},
	{medcard.Drug{Identifier: "28104762215", Name: "Eliquis", Form: "filmovertrukne tabletter", Strength: "5 mg", ATCCode: "B01AF02"}, "1 tablet 2 gange daglig", "til forebyggelse af blodpropper", "598174", "", 0, 12},
	{medcard.Drug{Identifier: "28104391120", Name: "Xarelto", Form: "filmovertrukne tabletter", Strength: "20 mg", ATCCode: "B01AF01"}, "1 tablet daglig med mad", "til forebyggelse af blodpropper", "166523", "", 0, 8},
	{medcard.Drug{Identifier: "28100962311", Name: "Citalopram \"Bluefish\"", Form: "filmovertrukne tabletter", Strength: "20 mg", ATCCode: "N06AB04"}, "1 tablet daglig", "mod depression", "434019", "½ tablet daglig", 0, 12},
	{medcard.Drug{Identifier: "28101698341", Name: "Mirtazapin \"Krka\"", Form: "filmovertrukne tabletter", Strength: "15 mg", ATCCode: "N06AX11"}, "1 tablet til natten", "mod depression", "063914", "2 tabletter til natten", 0, 8},
	{medcard.Drug{Identifier: "28100851269", Name: "Zopiclone \"Actavis\"", Form: "filmovertrukne tabletter", Strength: "7,5 mg", ATCCode: "N05CF01"}, "1 tablet til natten ved behov", "mod søvnbesvær", "381734", "", 0, 10},
	{medcard.Drug{Identifier: "28102107745", Name: "Gabapentin \"Teva\"", Form: "kapsler", Strength: "300 mg", ATCCode: "N03AX12"}, "1 kapsel 3 gange daglig", "mod nervesmerter", "585023", "2 kapsler 3 gange daglig", 0, 8},
	{medcard.Drug{Identifier: "28100679914", Name: "Tramadol \"Actavis\"", Form: "kapsler", Strength: "50 mg", ATCCode: "N02AX02"}, "1-2 kapsler op til 4 gange daglig ved behov", "mod smerter", "017492", "", 0, 10},
	{medcard.Drug{Identifier: "28103890452", Name: "Lantus", Form: "injektionsvæske, opløsning", Strength: "100 E/ml", ATCCode: "A10AE04"}, "efter aftale, typisk 20 enheder til aften", "mod sukkersyge", "525949", "efter aftale, typisk 24 enheder til aften", 0, 6},
	{medcard.Drug{Identifier: "28104105833", Name: "Spiriva Respimat", Form: "inhalationsvæske, opløsning", Strength: "2,5 mikrog/dosis", ATCCode: "R03BB04"}, "2 pust 1 gang daglig", "mod KOL", "125817", "", 0, 8},
	{medcard.Drug{Identifier: "28101571806", Name: "Symbicort Turbuhaler", Form: "inhalationspulver", Strength: "160+4,5 mikrog/dosis", ATCCode: "R03AK07"}, "1-2 inhalationer 2 gange daglig", "mod astma", "085322", "2 inhalationer 2 gange daglig", 0, 12},
	{medcard.Drug{Identifier: "28102210590", Name: "Desloratadin \"Stada\"", Form: "filmovertrukne tabletter", Strength: "5 mg", ATCCode: "R06AX27"}, "1 tablet daglig i pollensæsonen", "mod allergi", "402183", "", 0, 12},
	{medcard.Drug{Identifier: "28100015647", Name: "Primcillin", Form: "filmovertrukne tabletter", Strength: "800 mg", ATCCode: "J01CE02"}, "1 tablet 3 gange daglig i 7 dage", "mod infektion", "090787", "", 7, 25},
	{medcard.Drug{Identifier: "28100025193", Name: "Selexid", Form: "filmovertrukne tabletter", Strength: "200 mg", ATCCode: "J01CA08"}, "2 tabletter 3 gange daglig i 3 dage", "mod blærebetændelse", "166470", "", 3, 15},
	{medcard.Drug{Identifier: "28100038761", Name: "Amoxicillin \"Sandoz\"", Form: "filmovertrukne tabletter", Strength: "500 mg", ATCCode: "J01CA04"}, "1 tablet 3 gange daglig i 7 dage", "mod infektion", "053110", "", 7, 10},
	{medcard.Drug{Identifier: "28101744927", Name: "Alendronat \"Aurobindo\"", Form: "tabletter", Strength: "70 mg", ATCCode: "M05BA04"}, "1 tablet 1 gang ugentligt fastende", "mod knogleskørhed", "472835", "", 0, 8},
	{medcard.Drug{Identifier: "28102955314", Name: "Calcium + D3-vitamin \"Orifarm\"", Form: "tyggetabletter", Strength: "500 mg/10 mikrog", ATCCode: "A12AX"}, "1 tablet 2 gange daglig", "mod knogleskørhed", "054866", "", 0, 10},
	{medcard.Drug{Identifier: "28100336419", Name: "Prednisolon \"DAK\"", Form: "tabletter", Strength: "5 mg", ATCCode: "H02AB06"}, "efter aftale", "mod betændelse", "008672", "2 tabletter daglig i 5 dage, derefter 1 tablet daglig", 0, 8},
	{medcard.Drug{Identifier: "28100472088", Name: "Allopurinol \"Ratiopharm\"", Form: "tabletter", Strength: "100 mg", ATCCode: "M04AA01"}, "1 tablet daglig", "mod urinsyregigt", "113357", "3 tabletter daglig", 0, 8},
	{medcard.Drug{Identifier: "28101866730", Name: "Tamsulosin \"Sandoz\"", Form: "depotkapsler", Strength: "0,4 mg", ATCCode: "G04CA02"}, "1 kapsel daglig efter morgenmaden", "mod vandladningsbesvær", "190219", "", 0, 8},
	{medcard.Drug{Identifier: "28103354281", Name: "Melatonin \"Orifarm\"", Form: "depottabletter", Strength: "2 mg", ATCCode: "N05CH01"}, "1 tablet 1-2 timer før sengetid", "mod søvnbesvær", "420936", "", 0, 8},
	{medcard.Drug{Identifier: "28100790148", Name: "Cetirizin \"Stada\"", Form: "filmovertrukne tabletter", Strength: "10 mg", ATCCode: "R06AE07"}, "1 tablet daglig", "mod allergi", "451872", "", 0, 10},
	{medcard.Drug{Identifier: "28102608857", Name: "Quetiapin \"Accord\"", Form: "filmovertrukne tabletter", Strength: "25 mg", ATCCode: "N05AH04"}, "1 tablet til natten", "mod uro", "376902", "2 tabletter til natten", 0, 5},
	{medcard.Drug{Identifier: "28100559302", Name: "Metoprolol \"Hexal\"", Form: "depottabletter", Strength: "50 mg", ATCCode: "C07AB02"}, "1 tablet daglig", "mod forhøjet blodtryk", "104795", "2 tabletter daglig", 0, 12},
	{medcard.Drug{Identifier: "28100803316", Name: "Spironolacton \"Teva\"", Form: "filmovertrukne tabletter", Strength: "25 mg", ATCCode: "C03DA01"}, "1 tablet daglig", "vanddrivende", "024589", "", 0, 6},
	{medcard.Drug{Identifier: "28101130475", Name: "Vagifem", Form: "vaginaltabletter", Strength: "10 mikrog", ATCCode: "G03CA03"}, "1 vaginaltablet 2 gange ugentligt", "mod tørre slimhinder", "012479", "", 0, 6},
}

// formularyWeights is the running total of the formulary's weights, for
// drawing a drug by popularity.
var formularyWeights = func() []int {
	w := make([]int, len(formulary))
	total := 0
	for i, p := range formulary {
		total += p.weight
		w[i] = total
	}
	return w
}()

// Modifiers: the doctors and pharmacies that appear on the cards. The first
// GP and hospital doctor are those of the first demo data.
const (
	gpCount       = 60
	hospitalCount = 12
	pharmacyCount = 40
)

type parties struct {
	gps, hospitals, pharmacies []medcard.Modifier
}

func newParties() parties {
	var p parties
	p.gps = append(p.gps, medcard.Modifier{AuthorisationID: "A1B2C", Role: medcard.RoleDoctor, Organisation: "SOR:483711000016009", System: "demo-gp"})
	for k := 1; k < gpCount; k++ {
		p.gps = append(p.gps, medcard.Modifier{AuthorisationID: authorisationID(k), Role: medcard.RoleDoctor,
			Organisation: fmt.Sprintf("SOR:%d", 483711000016009+uint64(k)*7919000), System: "demo-gp"})
	}
	p.hospitals = append(p.hospitals, medcard.Modifier{AuthorisationID: "D4E5F", Role: medcard.RoleDoctor, Organisation: "SOR:28121000016001", System: "demo-hospital"})
	for k := 1; k < hospitalCount; k++ {
		p.hospitals = append(p.hospitals, medcard.Modifier{AuthorisationID: authorisationID(1000 + k), Role: medcard.RoleDoctor,
			Organisation: fmt.Sprintf("SOR:%d", 28121000016001+uint64(k)*104729000), System: "demo-hospital"})
	}
	for k := range pharmacyCount {
		p.pharmacies = append(p.pharmacies, medcard.Modifier{AuthorisationID: authorisationID(2000 + k), Role: medcard.RolePharmacist,
			Organisation: fmt.Sprintf("SOR:%d", 652341000016003+uint64(k)*15485000), System: "demo-pharmacy"})
	}
	return p
}

// authorisationID makes a five-character authorisation identifier like
// those of the Danish Patient Safety Authority.
func authorisationID(k int) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
	x := mix(uint64(k))
	var b [5]byte
	for i := range b {
		b[i] = alphabet[x%uint64(len(alphabet))]
		x /= uint64(len(alphabet))
	}
	return string(b[:])
}
