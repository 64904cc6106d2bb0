package medcard

import (
	"context"
	"time"
)

// The pharmacy's inbox: the open and started orders a pharmacy holds, on
// every card. It is the one read across cards; the Store answers it from
// an index of its own (OrderInbox), visiting each database once, and the
// service audits every card it shows.

// OrderInbox is what the inbox needs of storage, beside Store.
type OrderInbox interface {
	// OpenOrders returns the q.Limit oldest open or started orders
	// pharmacy holds, oldest first; with q.OnlyNew, only those not
	// acknowledged.
	OpenOrders(ctx context.Context, pharmacy string, q InboxQuery) ([]InboxEntry, error)
}

// InboxQuery says which of a pharmacy's open orders GetNewOrders returns.
type InboxQuery struct {
	Limit int // 1 to InboxLimit, the oldest first
	// OnlyNew leaves out the orders the pharmacy acknowledged
	// (AcknowledgeOrders), as SOAP's GetNewOrders does.
	OnlyNew bool
}

// InboxEntry is one open or started order, with what the counter needs to
// pick it up: whose, since when, and which drug and package.
type InboxEntry struct {
	Person          PersonID
	OrderID         int64
	Status          OrderStatus
	Pharmacy        string
	OrderedAt       time.Time
	Drug            Drug // the prescription's: name and strength
	PackageNumber   string
	PackageQuantity int
	// CardVersion is the card version at which the order last changed: a
	// change of the order based on it merges over the card's other
	// changes since.
	CardVersion  int64
	Acknowledged bool
}

// OpenOrders are the card's open and started orders as inbox entries; the
// store keeps them beside the card for the inbox's index.
func (c *Card) OpenOrders() []InboxEntry {
	var out []InboxEntry
	for _, o := range c.Orders {
		if o.Status != OrderOpen && o.Status != OrderInProgress {
			continue
		}
		e := InboxEntry{Person: c.PersonID, OrderID: o.ID, Status: o.Status, Pharmacy: o.Pharmacy, OrderedAt: o.Created.At,
			CardVersion: o.CardVersion, Acknowledged: o.Acknowledged != nil}
		if p := c.prescription(o.PrescriptionID); p != nil {
			e.Drug = Drug{Name: p.Drug.Name, Strength: p.Drug.Strength}
			e.PackageNumber, e.PackageQuantity = p.PackageNumber, p.PackageQuantity
		}
		out = append(out, e)
	}
	return out
}

// InboxLimit is the most orders GetNewOrders returns at once.
const InboxLimit = 500

// GetNewOrders returns the q.Limit (at most InboxLimit) oldest open and
// started orders the caller's organisation, a pharmacy, holds (with
// q.OnlyNew those it has not acknowledged). Every card it shows is audited
// as looked up.
//
// Errors: FaultRoleNotAllowed, FaultInvalidField (limit), FaultUnavailable
// (no inbox in this storage), and the Store's.
func (s *Service) GetNewOrders(ctx context.Context, call Call, q InboxQuery) ([]InboxEntry, error) {
	if err := authorize(call.Caller.Role, OpGetNewOrders); err != nil {
		return nil, err
	}
	if err := authorizeOverride(call); err != nil {
		return nil, err
	}
	if q.Limit < 1 || q.Limit > InboxLimit {
		return nil, Errorf(FaultInvalidField, "the inbox shows 1 to %d orders at once", InboxLimit)
	}
	inbox, ok := s.store.(OrderInbox)
	if !ok {
		return nil, Errorf(FaultUnavailable, "this service has no order inbox")
	}
	entries, err := inbox.OpenOrders(ctx, call.Caller.Organisation, q)
	if err != nil {
		return nil, err
	}
	audited := map[PersonID]bool{}
	at := s.now().UTC()
	for _, e := range entries {
		if audited[e.Person] {
			continue
		}
		audited[e.Person] = true
		if err := s.reads.RecordRead(ctx, e.Person, call.audit(OpGetNewOrders, at)); err != nil {
			return nil, err
		}
	}
	return entries, nil
}
