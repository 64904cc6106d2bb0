package medcard

import (
	"time"
	_ "time/tzdata" // the clinical calendar must not depend on the host's zoneinfo
)

// clinicalZone is the zone whose calendar says what "today" is for
// validity dates and dispensing intervals: a prescription valid to 1 March
// is valid until midnight in Denmark, not in UTC.
var clinicalZone = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return time.UTC // unreachable: time/tzdata is embedded
	}
	return loc
}()

// dateOf is the clinical calendar date of t.
func dateOf(t time.Time) Date { return Date(t.In(clinicalZone).Format(time.DateOnly)) }

// Card is one person's shared medicine card: the whole record, stored as one
// row so that every change to a person is one atomic write.
//
// Version counts committed changes to the card. Every item carries its own
// Version (changes to that item) and CardVersion (the card version at which
// it last changed), which is what lets a change based on an older card be
// merged when it touches only items nobody changed since.
type Card struct {
	PersonID   PersonID  `json:"-"`
	Version    int64     `json:"version"`
	LastItemID int64     `json:"lastItemId"` // identifiers are unique within one card
	Reviewed   *Reviewed `json:"reviewed,omitempty"`
	// AccessRestricted says the citizen restricted access to the card
	// (restriction.go): absent from a stored card, it is false, so cards
	// and cache entries written before it existed read as unrestricted.
	AccessRestricted bool             `json:"accessRestricted,omitempty"`
	DrugMedications  []DrugMedication `json:"drugMedications"`
	Prescriptions    []Prescription   `json:"prescriptions"`
	Orders           []Order          `json:"orders,omitempty"`
	Effectuations    []Effectuation   `json:"effectuations,omitempty"`

	// ChangedAgo is how long before it was read from the primary the card
	// last changed, by the database's clock (Store.ReadCard sets it; never
	// stored). A read waits out a recent change's settling (CacheFence).
	ChangedAgo time.Duration `json:"-"`
	// Moving says the card was read from a shard frozen for a move
	// (Store.ReadCard and ReadForWrite set it; never stored): it must not be entered in
	// the cache, where gateways still on the old shard map would find it
	// after the first write at the new place.
	Moving bool `json:"-"`
	// Renditions and View let a read's answer be rendered once per stored
	// card and view (renditions.go); never stored. The card cache sets
	// Renditions on the cards it decodes from its entries; GetMedicineCard
	// sets View to what it left of the card (its query), and only it: a view
	// must name everything the answer depends on besides the stored bytes.
	Renditions *Renditions `json:"-"`
	View       string      `json:"-"`
}

// NeedsAttention reports whether a person must settle a conflict on the
// card: some drug medication holds two variants.
func (c *Card) NeedsAttention() bool {
	for i := range c.DrugMedications {
		if c.DrugMedications[i].Conflict != nil {
			return true
		}
	}
	return false
}

// Reviewed marks the card as reviewed by a doctor at a card version.
type Reviewed struct {
	By          Modifier  `json:"by"`
	At          time.Time `json:"at"`
	CardVersion int64     `json:"cardVersion"`
}

// Modifier says who made a change: the person (authorisation id and role), the
// organisation and the integrating system.
type Modifier struct {
	AuthorisationID string `json:"authorisationId,omitempty"`
	Role            Role   `json:"role"`
	Organisation    string `json:"organisation"`
	System          string `json:"system"`
}

// DrugMedicationStatus is the life-cycle state of a drug medication.
type DrugMedicationStatus string

// Drug medication states.
const (
	DrugMedicationActive    DrugMedicationStatus = "Active"
	DrugMedicationPaused    DrugMedicationStatus = "Paused"
	DrugMedicationWithdrawn DrugMedicationStatus = "Withdrawn"
)

// DrugMedication is one line of the medication list: what the person takes,
// how, and why.
type DrugMedication struct {
	ID          int64                `json:"id"`
	Version     int64                `json:"version"`
	CardVersion int64                `json:"cardVersion"`
	Status      DrugMedicationStatus `json:"status"`
	Drug        Drug                 `json:"drug"`
	Dosage      Dosage               `json:"dosage"`
	Indication  Indication           `json:"indication"`
	BeginDate   Date                 `json:"beginDate"`
	EndDate     Date                 `json:"endDate,omitempty"`
	Created     Stamp                `json:"created"`
	Modified    Stamp                `json:"modified"`
	// LastOperation is the operation that last changed the item; the merge
	// table is indexed by it.
	LastOperation Operation `json:"lastOperation,omitempty"`
	// Conflict holds both variants when two changes clashed in a way only
	// a person can settle. Dispensing on the item is refused meanwhile.
	Conflict *Conflict `json:"conflict,omitempty"`
}

// Conflict is an unsettled clash of two changes to one drug medication.
type Conflict struct {
	// Rule names the merge table cell that asked for a person.
	Rule string    `json:"rule"`
	At   time.Time `json:"at"`
	// Variants are the item as stored (first) and as the clashing change
	// would have made it (second). ResolveConflict picks one or replaces
	// both.
	Variants []DrugMedication `json:"variants"`
}

// Drug identifies a medicinal product.
type Drug struct {
	Identifier string `json:"identifier"` // the national drug identifier
	Name       string `json:"name"`
	Form       string `json:"form,omitempty"`
	Strength   string `json:"strength,omitempty"`
	ATCCode    string `json:"atc,omitempty"`
}

// Dosage is how the drug is taken.
type Dosage struct {
	Text string `json:"text"`
}

// Indication is why the drug is taken.
type Indication struct {
	Code string `json:"code,omitempty"`
	Text string `json:"text"`
}

// Stamp records who changed something and when.
type Stamp struct {
	By Modifier  `json:"by"`
	At time.Time `json:"at"`
}

// PrescriptionStatus is the life-cycle state of a prescription.
type PrescriptionStatus string

// Prescription states.
const (
	PrescriptionOpen      PrescriptionStatus = "Open"
	PrescriptionCancelled PrescriptionStatus = "Cancelled"
	PrescriptionClosed    PrescriptionStatus = "Closed"
)

// Prescription authorises a pharmacy to dispense a package of a drug, once
// and then Iterations more times, at least IterationIntervalDays apart.
type Prescription struct {
	ID                    int64              `json:"id"`
	Version               int64              `json:"version"`
	CardVersion           int64              `json:"cardVersion"`
	DrugMedicationID      int64              `json:"drugMedicationId,omitempty"`
	Status                PrescriptionStatus `json:"status"`
	Drug                  Drug               `json:"drug"`
	PackageNumber         string             `json:"packageNumber"`
	PackageQuantity       int                `json:"packageQuantity"`
	Iterations            int                `json:"iterations"`
	IterationIntervalDays int                `json:"iterationIntervalDays,omitempty"`
	ValidFrom             Date               `json:"validFrom"`
	ValidTo               Date               `json:"validTo"`
	DosageText            string             `json:"dosageText"`
	Created               Stamp              `json:"created"`
	Modified              Stamp              `json:"modified"`
	LastOperation         Operation          `json:"lastOperation,omitempty"`
	// Dispensings counts effectuations that were not undone; the first is
	// the initial dispensing, the rest are iterations.
	Dispensings       int       `json:"dispensings,omitempty"`
	PackagesDispensed int       `json:"packagesDispensed,omitempty"`
	LastDispensedAt   time.Time `json:"lastDispensedAt,omitzero"`
}

// OrderStatus is the life-cycle state of a pharmacy order.
type OrderStatus string

// Order states.
const (
	OrderOpen       OrderStatus = "Open"       // placed: the prescription is locked to the pharmacy
	OrderInProgress OrderStatus = "InProgress" // an effectuation has started
	OrderCompleted  OrderStatus = "Completed"
	OrderCancelled  OrderStatus = "Cancelled"
)

// Order locks a prescription to one pharmacy until it is dispensed or
// cancelled.
type Order struct {
	ID             int64       `json:"id"`
	Version        int64       `json:"version"`
	CardVersion    int64       `json:"cardVersion"`
	PrescriptionID int64       `json:"prescriptionId"`
	Pharmacy       string      `json:"pharmacy"` // the organisation that placed it
	Status         OrderStatus `json:"status"`
	Created        Stamp       `json:"created"`
	Modified       Stamp       `json:"modified"`
	// Acknowledged is when the pharmacy holding the order confirmed it has
	// it (AcknowledgeOrders); GetNewOrders then leaves it out.
	Acknowledged *Stamp `json:"acknowledged,omitempty"`
}

// Effectuation is one dispensing: packages handed out against a
// prescription by a pharmacy.
type Effectuation struct {
	ID             int64  `json:"id"`
	Version        int64  `json:"version"`
	CardVersion    int64  `json:"cardVersion"`
	PrescriptionID int64  `json:"prescriptionId"`
	OrderID        int64  `json:"orderId"`
	Packages       int    `json:"packages"`
	Pharmacy       string `json:"pharmacy"`
	// Terminated is true when this dispensing closed the prescription.
	Terminated bool  `json:"terminated,omitempty"`
	Undone     bool  `json:"undone,omitempty"`
	Created    Stamp `json:"created"`
	Modified   Stamp `json:"modified"`
}

// Date is a calendar date as YYYY-MM-DD (xs:date without a zone). Only
// ParseDate makes a non-empty one.
type Date string

// ParseDate validates s as an xs:date, YYYY-MM-DD with an optional zone
// (Z or ±hh:mm, which some SOAP stacks always send), and returns the
// calendar date. field names the element in the message for the fault text.
//
// Errors: FaultInvalidField.
func ParseDate(field, s string) (Date, error) {
	date := s
	if len(s) > len(time.DateOnly) {
		date = s[:len(time.DateOnly)]
		zone := s[len(time.DateOnly):]
		if _, err := time.Parse("Z07:00", zone); err != nil {
			return "", Errorf(FaultInvalidField, "%s must be a date as YYYY-MM-DD", field)
		}
	}
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return "", Errorf(FaultInvalidField, "%s must be a date as YYYY-MM-DD", field)
	}
	return Date(date), nil
}

// nextItemID hands out the next identifier for a new item on c.
func (c *Card) nextItemID() int64 {
	c.LastItemID++
	return c.LastItemID
}

// openOrder returns the prescription's open or in-progress order, if any:
// there is at most one.
func (c *Card) openOrder(prescriptionID int64) *Order {
	for i := range c.Orders {
		o := &c.Orders[i]
		if o.PrescriptionID == prescriptionID && (o.Status == OrderOpen || o.Status == OrderInProgress) {
			return o
		}
	}
	return nil
}

func (c *Card) drugMedication(id int64) *DrugMedication {
	for i := range c.DrugMedications {
		if c.DrugMedications[i].ID == id {
			return &c.DrugMedications[i]
		}
	}
	return nil
}

func (c *Card) prescription(id int64) *Prescription {
	for i := range c.Prescriptions {
		if c.Prescriptions[i].ID == id {
			return &c.Prescriptions[i]
		}
	}
	return nil
}

func (c *Card) order(id int64) *Order {
	for i := range c.Orders {
		if c.Orders[i].ID == id {
			return &c.Orders[i]
		}
	}
	return nil
}

func (c *Card) effectuation(id int64) *Effectuation {
	for i := range c.Effectuations {
		if c.Effectuations[i].ID == id {
			return &c.Effectuations[i]
		}
	}
	return nil
}

// The find methods return an item named by a request, or the catalogue's
// not-found fault for it.

func (c *Card) findDrugMedication(id int64) (*DrugMedication, error) {
	if dm := c.drugMedication(id); dm != nil {
		return dm, nil
	}
	return nil, Errorf(FaultDrugMedicationNotFound, "there is no drug medication %d on the card", id)
}

func (c *Card) findPrescription(id int64) (*Prescription, error) {
	if p := c.prescription(id); p != nil {
		return p, nil
	}
	return nil, Errorf(FaultPrescriptionNotFound, "there is no prescription %d on the card", id)
}

func (c *Card) findOrder(id int64) (*Order, error) {
	if o := c.order(id); o != nil {
		return o, nil
	}
	return nil, Errorf(FaultOrderNotFound, "there is no order %d on the card", id)
}

func (c *Card) findEffectuation(id int64) (*Effectuation, error) {
	if e := c.effectuation(id); e != nil {
		return e, nil
	}
	return nil, Errorf(FaultEffectuationNotFound, "there is no effectuation %d on the card", id)
}
