package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sharedmedcard/gateway/medcard"
)

// Cards is what the UI needs of the medicine card service
// (*medcard.Service implements it).
type Cards interface {
	GetMedicineCard(ctx context.Context, call medcard.Call, q medcard.CardQuery) (*medcard.Card, error)
	Change(ctx context.Context, call medcard.Call, req medcard.ChangeRequest) (*medcard.WriteResult, error)
	GetNewOrders(ctx context.Context, call medcard.Call, q medcard.InboxQuery) ([]medcard.InboxEntry, error)
	GetAccessLog(ctx context.Context, call medcard.Call, q medcard.AccessLogQuery) (*medcard.AccessLogPage, error)
}

// cardView is what the card page shows.
type cardView struct {
	CPR           string
	Version       int64
	Pharmacy      string
	NoCard        bool
	Medications   []medcard.DrugMedication
	Prescriptions []prescriptionView
	// Notice is the outcome of the action just taken.
	Notice string
	// FormID names this rendering's forms: the MessageIDs of an action
	// derive from it, so sending the same form twice is applied once.
	FormID string
}

type prescriptionView struct {
	medcard.Prescription
	Left     int
	Next     medcard.Date
	Order    *medcard.Order // the open or started order, if any
	OursOpen bool           // the order is this pharmacy's
	// LastOurs is this pharmacy's last dispensing of it that can be undone.
	LastOurs *medcard.Effectuation
}

// cprOf reads the CPR number of a form: ten digits, a dash after the sixth
// allowed.
func cprOf(r *http.Request) (medcard.PersonID, error) {
	raw := strings.TrimSpace(r.PostFormValue("cpr"))
	if len(raw) == 11 && raw[6] == '-' {
		raw = raw[:6] + raw[7:]
	}
	return medcard.ParsePersonID(raw)
}

// callOf is the service call of the signed-in user, under messageID.
func callOf(r *http.Request, messageID string) medcard.Call {
	return medcard.Call{Caller: sessionOf(r).User.Caller(), MessageID: messageID}
}

// showCard reads the citizen's card (an audited look-up) and shows it.
func (u *UI) showCard(w http.ResponseWriter, r *http.Request) {
	person, err := cprOf(r)
	if err != nil {
		u.render(w, r, http.StatusBadRequest, "home", page{Title: "Find a citizen", Error: "That is not a CPR number: " + medcard.MessageOf(err) + "."})
		return
	}
	u.renderCard(w, r, http.StatusOK, person, "", "")
}

// renderCard reads the card (an audited look-up) and shows it, with the
// outcome of an action (notice) or a refusal (errMsg).
func (u *UI) renderCard(w http.ResponseWriter, r *http.Request, status int, person medcard.PersonID, notice, errMsg string) {
	card, err := u.cards.GetMedicineCard(r.Context(), callOf(r, "ui-read-"+newToken()),
		medcard.CardQuery{PersonID: string(person), IncludePrescriptions: true, IncludeEffectuations: true})
	if err != nil {
		u.refuseCard(w, r, err)
		return
	}
	v := cardView{CPR: string(person), Version: card.Version, Pharmacy: sessionOf(r).User.Organisation,
		NoCard: card.Version == 0, Medications: card.DrugMedications, Notice: notice, FormID: newToken()}
	for _, p := range card.Prescriptions {
		pv := prescriptionView{Prescription: p, Left: p.DispensingsLeft(), Next: p.NextDispensingDate()}
		for i := range card.Orders {
			o := &card.Orders[i]
			if o.PrescriptionID == p.ID && (o.Status == medcard.OrderOpen || o.Status == medcard.OrderInProgress) {
				pv.Order, pv.OursOpen = o, o.Pharmacy == v.Pharmacy
			}
		}
		for i := range card.Effectuations {
			e := &card.Effectuations[i]
			if e.PrescriptionID == p.ID && e.Pharmacy == v.Pharmacy && !e.Undone {
				pv.LastOurs = e
			}
		}
		v.Prescriptions = append(v.Prescriptions, pv)
	}
	title := "Medicine card"
	if v.NoCard {
		title = "No medicine card"
	}
	u.render(w, r, status, "card", page{Title: title, Error: errMsg, Data: v})
}

// refuseCard shows, on the search page, the service's refusal to read a
// card, in its own words; a card the citizen restricted in the UI's words
// (the service's speak of a SOAP header the pharmacist never sees).
func (u *UI) refuseCard(w http.ResponseWriter, r *http.Request, err error) {
	f := medcard.FaultOf(err)
	if f == medcard.FaultInternal {
		u.fail(w, r, err)
		return
	}
	if f == medcard.FaultAccessRestricted {
		u.render(w, r, http.StatusForbidden, "home", page{Title: "Find a citizen", Error: restrictedCardText})
		return
	}
	status := http.StatusConflict
	switch f.Code {
	case medcard.CodeInvalid:
		status = http.StatusBadRequest
	case medcard.CodeUnauthorized:
		status = http.StatusForbidden
	case medcard.CodeUnavailable:
		status = http.StatusServiceUnavailable
	}
	u.render(w, r, status, "home", page{Title: "Find a citizen", Error: medcard.MessageOf(err) + "."})
}

// restrictedCardText is the answer to opening a card whose citizen
// restricted access to it: nobody at a pharmacy may open it.
const restrictedCardText = "The citizen has restricted access to this medicine card, so it cannot be shown here. " +
	"Only the citizen can see it, or a doctor in an emergency."

// action is one of the card page's buttons: it runs its change(s) and
// shows the card again with the outcome, or the refusal in the rule's own
// words above the card.
func (u *UI) action(w http.ResponseWriter, r *http.Request) {
	person, err := cprOf(r)
	if err != nil {
		u.render(w, r, http.StatusBadRequest, "home", page{Title: "Find a citizen", Error: "That is not a CPR number: " + medcard.MessageOf(err) + "."})
		return
	}
	version, err1 := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	item, err2 := strconv.ParseInt(r.PostFormValue("item"), 10, 64)
	formID := r.PostFormValue("form")
	if err1 != nil || err2 != nil || formID == "" {
		u.renderCardRefusal(w, r, person, http.StatusBadRequest, "The form was incomplete; here is the card as it is now.")
		return
	}
	notice, err := u.runAction(r, person, r.PostFormValue("do"), version, item, formID)
	if err != nil {
		if medcard.FaultOf(err) == medcard.FaultInternal {
			u.fail(w, r, err)
			return
		}
		status := http.StatusConflict
		if medcard.FaultOf(err).Code == medcard.CodeInvalid {
			status = http.StatusBadRequest
		}
		u.renderCardRefusal(w, r, person, status, refusalText(err))
		return
	}
	u.renderCard(w, r, http.StatusOK, person, notice, "")
}

// refusalText is a refusal as the pharmacist reads it.
func refusalText(err error) string {
	msg := medcard.MessageOf(err)
	if msg == "" {
		msg = medcard.FaultOf(err).ID
	}
	return "Refused: " + msg + "."
}

// renderCardRefusal shows the card as it is now (the refusal may be a
// change made meanwhile) under the refusal.
func (u *UI) renderCardRefusal(w http.ResponseWriter, r *http.Request, person medcard.PersonID, status int, msg string) {
	u.renderCard(w, r, status, person, "", msg)
}

// errUnknownAction is a button the page does not have.
var errUnknownAction = medcard.Errorf(medcard.FaultInvalidField, "unknown action")

// runAction runs the changes of one button, each under a MessageID derived
// from the form, so a form sent twice (a double click, a resend after a
// time-out) is applied once: the second gets the stored answers.
func (u *UI) runAction(r *http.Request, person medcard.PersonID, do string, version, item int64, formID string) (string, error) {
	ctx := r.Context()
	p := string(person)
	change := func(step string, req medcard.ChangeRequest) (*medcard.WriteResult, error) {
		res, err := u.cards.Change(ctx, callOf(r, "ui-"+formID+"-"+step), req)
		if err == nil {
			version = res.CardVersion
		}
		return res, err
	}
	switch do {
	case "dispense":
		packages, err := strconv.Atoi(r.PostFormValue("packages"))
		if err != nil || packages < 1 {
			return "", medcard.Errorf(medcard.FaultInvalidField, "the number of packages is a whole number of at least 1")
		}
		order, err := strconv.ParseInt(r.PostFormValue("order"), 10, 64)
		if err != nil {
			order = 0
		}
		started := r.PostFormValue("started") == "true"
		if order == 0 {
			res, err := change("order", medcard.OrderRequest{PersonID: p, BasedOnCardVersion: version, PrescriptionID: item})
			if err != nil {
				return "", err
			}
			if order = itemOf(res, medcard.ItemOrder); order == 0 {
				return "", errors.New("ui: CreateOrder answered no order")
			}
		}
		if !started {
			if _, err := change("start", medcard.OrderActionRequest{Op: medcard.OpStartEffectuation, PersonID: p, BasedOnCardVersion: version, OrderID: order}); err != nil {
				return "", err
			}
		}
		if _, err := change("dispense", medcard.EffectuationRequest{PersonID: p, BasedOnCardVersion: version, OrderID: order, PackagesDispensed: packages}); err != nil {
			return "", err
		}
		return fmt.Sprintf("Dispensed %d package(s).", packages), nil
	case "abort":
		if _, err := change("abort", medcard.OrderActionRequest{Op: medcard.OpAbortEffectuation, PersonID: p, BasedOnCardVersion: version, OrderID: item}); err != nil {
			return "", err
		}
		return "Dispensing aborted; the order is open again.", nil
	case "cancel":
		if _, err := change("cancel", medcard.OrderActionRequest{Op: medcard.OpCancelOrder, PersonID: p, BasedOnCardVersion: version, OrderID: item}); err != nil {
			return "", err
		}
		return "Order cancelled; the prescription is free again.", nil
	case "resolve":
		req := medcard.ResolveConflictRequest{PersonID: p, BasedOnCardVersion: version, DrugMedicationID: item}
		switch choice := r.PostFormValue("choice"); choice {
		case "1", "2":
			req.ChosenVariant = int(choice[0] - '0')
		case "replace":
			dosage := strings.TrimSpace(r.PostFormValue("dosage"))
			if dosage == "" {
				return "", medcard.Errorf(medcard.FaultRequiredField, "write the dosage that replaces both variants")
			}
			req.Replacement = &medcard.ConflictReplacement{Dosage: medcard.Dosage{Text: dosage}}
		default:
			return "", medcard.Errorf(medcard.FaultInvalidField, "choose a variant or write a replacement")
		}
		if _, err := change("resolve", req); err != nil {
			return "", err
		}
		return "Conflict settled.", nil
	case "undo":
		if _, err := change("undo", medcard.UndoEffectuationRequest{PersonID: p, BasedOnCardVersion: version, EffectuationID: item}); err != nil {
			return "", err
		}
		return "Dispensing undone.", nil
	}
	return "", errUnknownAction
}

// itemOf is the id of the first item of kind in a write's answer.
func itemOf(res *medcard.WriteResult, kind medcard.ItemKind) int64 {
	for _, it := range res.Items {
		if it.Kind == kind {
			return it.ID
		}
	}
	return 0
}

// inbox shows the pharmacy's open and started orders, on every card.
func (u *UI) inbox(w http.ResponseWriter, r *http.Request) {
	u.renderInbox(w, r, http.StatusOK, "", "")
}

// renderInbox shows the inbox with the outcome of an action (notice) or a
// refusal (errMsg).
func (u *UI) renderInbox(w http.ResponseWriter, r *http.Request, status int, notice, errMsg string) {
	entries, err := u.cards.GetNewOrders(r.Context(), callOf(r, "ui-inbox-"+newToken()), medcard.InboxQuery{Limit: inboxPage})
	if err != nil {
		if medcard.FaultOf(err) == medcard.FaultInternal {
			u.fail(w, r, err)
			return
		}
		u.render(w, r, http.StatusServiceUnavailable, "inbox", page{Title: "Order inbox", Error: medcard.MessageOf(err) + "."})
		return
	}
	u.render(w, r, status, "inbox", page{Title: "Order inbox", Error: errMsg,
		Data: inboxView{Entries: entries, Page: inboxPage, Notice: notice, FormID: newToken()}})
}

// acknowledge marks an order of the inbox seen by the pharmacy. The
// button names the order as CPR:card version:order id.
func (u *UI) acknowledge(w http.ResponseWriter, r *http.Request) {
	person, version, order, ok := orderOf(r.PostFormValue("order"))
	formID := r.PostFormValue("form")
	if !ok || formID == "" {
		u.renderInbox(w, r, http.StatusBadRequest, "", "The form was incomplete; here is the inbox as it is now.")
		return
	}
	_, err := u.cards.Change(r.Context(), callOf(r, "ui-"+formID+"-a"+strconv.FormatInt(order, 10)),
		medcard.OrderActionRequest{Op: medcard.OpAcknowledgeOrders, PersonID: string(person), BasedOnCardVersion: version, OrderID: order})
	if err != nil {
		if medcard.FaultOf(err) == medcard.FaultInternal {
			u.fail(w, r, err)
			return
		}
		u.renderInbox(w, r, http.StatusConflict, "", refusalText(err))
		return
	}
	u.renderInbox(w, r, http.StatusOK, "Order acknowledged.", "")
}

// orderOf reads an inbox button's order: CPR:card version:order id.
func orderOf(v string) (person medcard.PersonID, version, order int64, ok bool) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return "", 0, 0, false
	}
	person, err := medcard.ParsePersonID(parts[0])
	version, err1 := strconv.ParseInt(parts[1], 10, 64)
	order, err2 := strconv.ParseInt(parts[2], 10, 64)
	return person, version, order, err == nil && err1 == nil && err2 == nil
}

// inboxPage is how many orders the inbox shows, the oldest first.
const inboxPage = 100

type inboxView struct {
	Entries []medcard.InboxEntry
	Page    int
	Notice  string
	FormID  string // names this rendering's forms (see cardView.FormID)
}
