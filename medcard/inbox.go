package medcard

import (
	"context"
	"slices"
	"strings"
)

// The pharmacy's inbox: every open or started order a pharmacy holds, on
// every card. It is the one read across cards; the Store answers it from an
// index (OrderInbox), visiting each database once.

// OrderInbox is what the inbox needs of storage, beside Store.
type OrderInbox interface {
	// CardsWithOpenOrders returns every card on which pharmacy holds an
	// open or started order, each with its PersonID set.
	CardsWithOpenOrders(ctx context.Context, pharmacy string) ([]*Card, error)
}

// OpenOrderPharmacies are the pharmacies holding an open or started order
// on the card, sorted; nil when none. The store keeps them beside the card
// for the inbox's index.
func (c *Card) OpenOrderPharmacies() []string {
	var out []string
	for _, o := range c.Orders {
		if (o.Status == OrderOpen || o.Status == OrderInProgress) && !slices.Contains(out, o.Pharmacy) {
			out = append(out, o.Pharmacy)
		}
	}
	slices.Sort(out)
	return out
}

// InboxEntry is one order of a pharmacy's inbox, with what the counter
// needs to pick it up.
type InboxEntry struct {
	Person       PersonID
	CardVersion  int64
	Order        Order
	Prescription Prescription
}

// GetNewOrders returns the open and started orders the caller's
// organisation (a pharmacy) holds, oldest first. Every card it shows is
// audited as looked up.
//
// Errors: FaultRoleNotAllowed, FaultUnavailable (no inbox in this
// storage), and the Store's.
func (s *Service) GetNewOrders(ctx context.Context, call Call) ([]InboxEntry, error) {
	if err := authorize(call.Caller.Role, OpGetNewOrders); err != nil {
		return nil, err
	}
	inbox, ok := s.store.(OrderInbox)
	if !ok {
		return nil, Errorf(FaultUnavailable, "this service has no order inbox")
	}
	pharmacy := call.Caller.Organisation
	cards, err := inbox.CardsWithOpenOrders(ctx, pharmacy)
	if err != nil {
		return nil, err
	}
	var entries []InboxEntry
	at := s.now().UTC()
	for _, c := range cards {
		shown := false
		for _, o := range c.Orders {
			if o.Pharmacy != pharmacy || (o.Status != OrderOpen && o.Status != OrderInProgress) {
				continue
			}
			e := InboxEntry{Person: c.PersonID, CardVersion: c.Version, Order: o}
			if p := c.prescription(o.PrescriptionID); p != nil {
				e.Prescription = *p
			}
			entries = append(entries, e)
			shown = true
		}
		if shown {
			audit := call.audit(OpGetNewOrders, at)
			audit.CardVersion = c.Version
			if err := s.reads.RecordRead(ctx, c.PersonID, audit); err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(entries, func(a, b InboxEntry) int {
		if c := a.Order.Created.At.Compare(b.Order.Created.At); c != 0 {
			return c
		}
		return strings.Compare(string(a.Person), string(b.Person))
	})
	return entries, nil
}
