package medcard

import (
	"context"
	"time"
)

// The pharmacy's operations: place an order (which locks the prescription
// to the pharmacy), start the effectuation, record the dispensing, or
// abort, cancel and undo. The pharmacy is the caller's organisation.

// OrderRequest names a prescription to order.
type OrderRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	PrescriptionID     int64
}

// OrderActionRequest names an order to act on.
type OrderActionRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	OrderID            int64
}

// EffectuationRequest records a dispensing on an order whose effectuation
// was started.
type EffectuationRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	OrderID            int64
	PackagesDispensed  int
	// Terminate closes the prescription with this dispensing, whatever
	// iterations are left.
	Terminate bool
}

// UndoEffectuationRequest names a dispensing to undo.
type UndoEffectuationRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	EffectuationID     int64
}

// CreateOrder places the calling pharmacy's order on a prescription.
//
// Errors: FaultRoleNotAllowed, FaultMissingMessageID, FaultInvalidPersonID,
// FaultRequiredField, FaultInvalidCardVersion, FaultPrescriptionNotFound,
// FaultOpenOrderExists, the dispensing rules' faults except
// FaultIterationTooEarly (an order may be placed ahead of time),
// FaultMessageIDReused, FaultCardBusy, and the Store's.
func (s *Service) CreateOrder(ctx context.Context, call Call, req OrderRequest) (*WriteResult, error) {
	return s.modify(ctx, call, OpCreateOrder, req.PersonID, req.BasedOnCardVersion, req,
		func(v *validator) change {
			v.identifier("PrescriptionIdentifier", req.PrescriptionID)
			return func(m *mutation) error {
				p, err := m.card.findPrescription(req.PrescriptionID)
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
		})
}

// CancelOrder cancels the calling pharmacy's open order, releasing the
// prescription.
//
// Errors: as orderAction.
func (s *Service) CancelOrder(ctx context.Context, call Call, req OrderActionRequest) (*WriteResult, error) {
	return s.orderAction(ctx, call, OpCancelOrder, req, func(m *mutation, o *Order, _ *Prescription) error {
		o.Status = OrderCancelled
		return nil
	})
}

// StartEffectuation starts dispensing on the calling pharmacy's open order,
// after checking every dispensing rule.
//
// Errors: as orderAction, and the dispensing rules' faults.
func (s *Service) StartEffectuation(ctx context.Context, call Call, req OrderActionRequest) (*WriteResult, error) {
	return s.orderAction(ctx, call, OpStartEffectuation, req, func(m *mutation, o *Order, p *Prescription) error {
		if err := checkDispensable(m.card, p, m.stamp.At, true); err != nil {
			return err
		}
		o.Status = OrderInProgress
		return nil
	})
}

// AbortEffectuation stops a started effectuation; the order is open again.
//
// Errors: as orderAction.
func (s *Service) AbortEffectuation(ctx context.Context, call Call, req OrderActionRequest) (*WriteResult, error) {
	return s.orderAction(ctx, call, OpAbortEffectuation, req, func(m *mutation, o *Order, _ *Prescription) error {
		o.Status = OrderOpen
		return nil
	})
}

// CreatePharmacyEffectuation records the dispensing of a started
// effectuation: the order completes, the prescription counts the
// dispensing and closes when it is used up or Terminate is set.
//
// Errors: as orderAction, FaultInvalidField, FaultTooManyPackages, and the
// dispensing rules' faults.
func (s *Service) CreatePharmacyEffectuation(ctx context.Context, call Call, req EffectuationRequest) (*WriteResult, error) {
	action := OrderActionRequest{PersonID: req.PersonID, BasedOnCardVersion: req.BasedOnCardVersion, OrderID: req.OrderID}
	return s.orderActionOf(ctx, call, OpCreatePharmacyEffectuation, action, req, func(m *mutation, o *Order, p *Prescription) error {
		if err := checkDispensable(m.card, p, m.stamp.At, true); err != nil {
			return err
		}
		if err := checkPackages(p, req.PackagesDispensed); err != nil {
			return err
		}
		p.Dispensings++
		p.PackagesDispensed += req.PackagesDispensed
		p.LastDispensedAt = m.stamp.At
		closes := req.Terminate || p.Dispensings >= 1+p.Iterations
		if closes {
			p.Status = PrescriptionClosed
		}
		m.bumpPrescription(p, OpCreatePharmacyEffectuation)
		o.Status = OrderCompleted
		e := Effectuation{ID: m.card.nextItemID(), Version: 1, CardVersion: m.card.Version, PrescriptionID: p.ID,
			OrderID: o.ID, Packages: req.PackagesDispensed, Pharmacy: o.Pharmacy, Terminated: req.Terminate,
			Created: m.stamp, Modified: m.stamp}
		m.card.Effectuations = append(m.card.Effectuations, e)
		m.touched(ItemEffectuation, e.ID, e.Version)
		return nil
	})
}

// UndoEffectuation undoes the calling pharmacy's dispensing: the
// prescription gets the dispensing back and, if it is closed, reopens
// unless another dispensing that was not undone terminated it.
//
// Errors: FaultRoleNotAllowed, FaultMissingMessageID, FaultInvalidPersonID,
// FaultRequiredField, FaultInvalidCardVersion, FaultEffectuationNotFound,
// FaultOrderOfAnotherPharmacy, FaultEffectuationUndone,
// FaultMessageIDReused, FaultCardBusy, and the Store's.
func (s *Service) UndoEffectuation(ctx context.Context, call Call, req UndoEffectuationRequest) (*WriteResult, error) {
	return s.modify(ctx, call, OpUndoEffectuation, req.PersonID, req.BasedOnCardVersion, req,
		func(v *validator) change {
			v.identifier("EffectuationIdentifier", req.EffectuationID)
			return func(m *mutation) error {
				e, err := m.card.findEffectuation(req.EffectuationID)
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
		})
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

// orderAction runs a pharmacy operation on one order: it finds the order
// and its prescription, checks the order's state and pharmacy
// (rules.go), lets act change them and records the new versions.
//
// Errors: FaultRoleNotAllowed, FaultMissingMessageID, FaultInvalidPersonID,
// FaultRequiredField, FaultInvalidCardVersion, FaultOrderNotFound,
// FaultOrderOfAnotherPharmacy, FaultTransitionNotAllowed,
// FaultEffectuationNotStarted, FaultMessageIDReused, FaultCardBusy, and the
// Store's.
func (s *Service) orderAction(ctx context.Context, call Call, op Operation, req OrderActionRequest,
	act func(m *mutation, o *Order, p *Prescription) error) (*WriteResult, error) {
	return s.orderActionOf(ctx, call, op, req, req, act)
}

// orderActionOf is orderAction with the request to hash for idempotency
// given separately, for operations with more fields than the order.
func (s *Service) orderActionOf(ctx context.Context, call Call, op Operation, req OrderActionRequest, request any,
	act func(m *mutation, o *Order, p *Prescription) error) (*WriteResult, error) {
	return s.modify(ctx, call, op, req.PersonID, req.BasedOnCardVersion, request,
		func(v *validator) change {
			v.identifier("OrderIdentifier", req.OrderID)
			return func(m *mutation) error {
				o, err := m.card.findOrder(req.OrderID)
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
		})
}

func (m *mutation) bumpOrder(o *Order) {
	o.Version++
	o.CardVersion = m.card.Version
	o.Modified = m.stamp
	m.touched(ItemOrder, o.ID, o.Version)
}
