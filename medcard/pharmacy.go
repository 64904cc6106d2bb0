package medcard

import "time"

// The pharmacy's operations: place an order (which locks the prescription
// to the pharmacy), start the effectuation, record the dispensing, or
// abort, cancel and undo. The pharmacy is the caller's organisation.

// OrderRequest places the calling pharmacy's order on a prescription
// (CreateOrder), which locks the prescription to the pharmacy.
//
// Errors, besides Change's: FaultRequiredField, FaultPrescriptionNotFound,
// FaultOpenOrderExists, and the dispensing rules' faults except
// FaultIterationTooEarly (an order may be placed ahead of time).
type OrderRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	PrescriptionID     int64
}

// Operation is OpCreateOrder.
func (OrderRequest) Operation() Operation { return OpCreateOrder }

func (r OrderRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r OrderRequest) validate(v *validator) change {
	v.identifier("PrescriptionIdentifier", r.PrescriptionID)
	return func(m *mutation) error {
		p, err := m.card.findPrescription(r.PrescriptionID)
		if err != nil {
			return err
		}
		if m.card.openOrder(p.ID) != nil {
			return Errorf(FaultOpenOrderExists, "the prescription already has an open order")
		}
		if err := checkDispensable(m.card, p, m.stamp.At, false); err != nil {
			return err
		}
		o := Order{ID: m.card.nextItemID(), Version: 1, CardVersion: m.card.Version, PrescriptionID: p.ID,
			Pharmacy: m.stamp.By.Organisation, Status: OrderOpen, Created: m.stamp, Modified: m.stamp}
		m.card.Orders = append(m.card.Orders, o)
		m.touched(ItemOrder, o.ID, o.Version)
		m.bumpPrescription(p, OpCreateOrder)
		return nil
	}
}

// OrderActionRequest acts on the calling pharmacy's order; Op says how:
// CancelOrder cancels an open order, releasing the prescription;
// StartEffectuation starts dispensing on an open order, after checking
// every dispensing rule; AbortEffectuation stops a started effectuation,
// and the order is open again; AcknowledgeOrders marks an open or started
// order seen (GetNewOrders leaves it out from then on).
//
// Errors, besides Change's: as onOrder's, and for StartEffectuation the
// dispensing rules' faults.
type OrderActionRequest struct {
	// Op is not a member of the request's canonical form: requestHash
	// hashes the operation on its own, as it did before the request
	// carried it, so a resend spanning the deploy still matches its
	// stored outcome.
	Op                 Operation `json:"-"`
	PersonID           string
	BasedOnCardVersion int64
	OrderID            int64
}

// Operation is Op.
func (r OrderActionRequest) Operation() Operation { return r.Op }

func (r OrderActionRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r OrderActionRequest) validate(v *validator) change {
	return onOrder(v, r.Op, r.OrderID, func(m *mutation, o *Order, p *Prescription) error {
		switch r.Op {
		case OpCancelOrder:
			o.Status = OrderCancelled
		case OpStartEffectuation:
			if err := checkDispensable(m.card, p, m.stamp.At, true); err != nil {
				return err
			}
			o.Status = OrderInProgress
		case OpAbortEffectuation:
			o.Status = OrderOpen
		case OpAcknowledgeOrders:
			if o.Acknowledged == nil { // a second acknowledgement keeps the first
				stamp := m.stamp
				o.Acknowledged = &stamp
			}
		}
		return nil
	})
}

// EffectuationRequest records the dispensing of a started effectuation
// (CreatePharmacyEffectuation): the order completes, the prescription
// counts the dispensing and closes when it is used up or Terminate is set.
//
// Errors, besides Change's: as onOrder's, FaultInvalidField,
// FaultTooManyPackages, and the dispensing rules' faults.
type EffectuationRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	OrderID            int64
	PackagesDispensed  int
	// Terminate closes the prescription with this dispensing, whatever
	// iterations are left.
	Terminate bool
}

// Operation is OpCreatePharmacyEffectuation.
func (EffectuationRequest) Operation() Operation { return OpCreatePharmacyEffectuation }

func (r EffectuationRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r EffectuationRequest) validate(v *validator) change {
	return onOrder(v, OpCreatePharmacyEffectuation, r.OrderID, func(m *mutation, o *Order, p *Prescription) error {
		if err := checkDispensable(m.card, p, m.stamp.At, true); err != nil {
			return err
		}
		if err := checkPackages(p, r.PackagesDispensed); err != nil {
			return err
		}
		p.Dispensings++
		p.PackagesDispensed += r.PackagesDispensed
		p.LastDispensedAt = m.stamp.At
		closes := r.Terminate || p.Dispensings >= 1+p.Iterations
		if closes {
			p.Status = PrescriptionClosed
		}
		m.bumpPrescription(p, OpCreatePharmacyEffectuation)
		o.Status = OrderCompleted
		e := Effectuation{ID: m.card.nextItemID(), Version: 1, CardVersion: m.card.Version, PrescriptionID: p.ID,
			OrderID: o.ID, Packages: r.PackagesDispensed, Pharmacy: o.Pharmacy, Terminated: r.Terminate,
			Created: m.stamp, Modified: m.stamp}
		m.card.Effectuations = append(m.card.Effectuations, e)
		m.touched(ItemEffectuation, e.ID, e.Version)
		return nil
	})
}

// UndoEffectuationRequest undoes the calling pharmacy's dispensing
// (UndoEffectuation): the prescription gets the dispensing back and, if it
// is closed, reopens unless another dispensing that was not undone
// terminated it.
//
// Errors, besides Change's: FaultRequiredField, FaultEffectuationNotFound,
// FaultOrderOfAnotherPharmacy, FaultEffectuationUndone.
type UndoEffectuationRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	EffectuationID     int64
}

// Operation is OpUndoEffectuation.
func (UndoEffectuationRequest) Operation() Operation { return OpUndoEffectuation }

func (r UndoEffectuationRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r UndoEffectuationRequest) validate(v *validator) change {
	v.identifier("EffectuationIdentifier", r.EffectuationID)
	return func(m *mutation) error {
		e, err := m.card.findEffectuation(r.EffectuationID)
		if err != nil {
			return err
		}
		if e.Pharmacy != m.stamp.By.Organisation {
			return Errorf(FaultOrderOfAnotherPharmacy, "the effectuation was made by another pharmacy")
		}
		if e.Undone {
			return Errorf(FaultEffectuationUndone, "the effectuation was already undone")
		}
		e.Undone = true
		e.Version++
		e.CardVersion = m.card.Version
		e.Modified = m.stamp
		m.touched(ItemEffectuation, e.ID, e.Version)
		p := m.card.prescription(e.PrescriptionID)
		if p == nil {
			return nil
		}
		p.Dispensings--
		p.PackagesDispensed -= e.Packages
		p.LastDispensedAt = m.card.lastDispensing(p.ID)
		if p.Status == PrescriptionClosed && !m.card.terminated(p.ID) {
			p.Status = PrescriptionOpen
		}
		m.bumpPrescription(p, OpUndoEffectuation)
		return nil
	}
}

// lastDispensing returns when the prescription was last dispensed, by its
// effectuations that were not undone.
func (c *Card) lastDispensing(prescriptionID int64) (last time.Time) {
	for _, e := range c.Effectuations {
		if e.PrescriptionID == prescriptionID && !e.Undone && e.Created.At.After(last) {
			last = e.Created.At
		}
	}
	return last
}

// terminated reports whether a dispensing of the prescription that was not
// undone closed it with Terminate.
func (c *Card) terminated(prescriptionID int64) bool {
	for _, e := range c.Effectuations {
		if e.PrescriptionID == prescriptionID && !e.Undone && e.Terminated {
			return true
		}
	}
	return false
}

// onOrder is the change of a pharmacy operation op on one order: it finds
// the order and its prescription, checks the order's state and pharmacy
// (rules.go), lets act change them and records the new versions.
//
// Errors: FaultRequiredField, FaultOrderNotFound,
// FaultOrderOfAnotherPharmacy, FaultTransitionNotAllowed,
// FaultEffectuationNotStarted, FaultPrescriptionNotFound.
func onOrder(v *validator, op Operation, orderID int64, act func(m *mutation, o *Order, p *Prescription) error) change {
	v.identifier("OrderIdentifier", orderID)
	return func(m *mutation) error {
		o, err := m.card.findOrder(orderID)
		if err != nil {
			return err
		}
		if err := checkOrder(o, op, m.stamp.By.Organisation); err != nil {
			return err
		}
		p := m.card.prescription(o.PrescriptionID)
		if p == nil {
			return Errorf(FaultPrescriptionNotFound, "the order's prescription %d is not on the card", o.PrescriptionID)
		}
		if err := act(m, o, p); err != nil {
			return err
		}
		m.bumpOrder(o)
		return nil
	}
}

func (m *mutation) bumpOrder(o *Order) {
	o.Version++
	o.CardVersion = m.card.Version
	o.Modified = m.stamp
	m.touched(ItemOrder, o.ID, o.Version)
}
