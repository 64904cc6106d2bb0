package web

import (
	"net/http"

	"github.com/sharedmedcard/gateway/medcard"
)

// accessLogPageSize is how many entries one page of the access log shows.
const accessLogPageSize = 50

// accessLogView is what the access log page shows: one page of the card's
// access log, newest first, and the token of the next.
type accessLogView struct {
	CPR     string
	Entries []medcard.AuditEntry
	Next    string
}

// showAccessLog shows the access log of the card the pharmacist has open,
// a page at a time (the form's page token), for the citizen at the
// counter. Reading it is itself in the log, as the pharmacist's.
func (u *UI) showAccessLog(w http.ResponseWriter, r *http.Request) {
	person, err := cprOf(r)
	if err != nil {
		u.render(w, r, http.StatusBadRequest, "home", page{Title: "Find a citizen", Error: "That is not a CPR number: " + medcard.MessageOf(err) + "."})
		return
	}
	log, err := u.cards.GetAccessLog(r.Context(), callOf(r, "ui-log-"+newToken()),
		medcard.AccessLogQuery{PersonID: string(person), PageSize: accessLogPageSize, PageToken: r.PostFormValue("page")})
	if err != nil {
		u.refuseCard(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "accesslog", page{Title: "Access log",
		Data: accessLogView{CPR: string(person), Entries: log.Entries, Next: log.NextPageToken}})
}
