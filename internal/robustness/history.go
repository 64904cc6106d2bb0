package robustness

import "time"

// OpKind is what a client asked a gateway to do.
type OpKind string

// Operation kinds the clients run. A write adds one drug medication whose
// Indication/Text is the operation's Tag, so the final card says which
// writes were applied, and how often.
const (
	OpWrite OpKind = "write" // CreateDrugMedication
	OpRead  OpKind = "read"  // GetMedicineCard (served from the cache when hot)
)

// Outcome is how an operation ended, as the client saw it.
type Outcome string

// Outcomes. A write that ended unknown may or may not have been applied;
// the client resends it with the same MessageID (to the other gateway)
// until it gets a definite answer or gives up, and the whole exchange is
// one Operation.
const (
	OutcomeOK      Outcome = "ok"
	OutcomeFault   Outcome = "fault"   // a SOAP fault with Retryable=false: definitely not applied
	OutcomeUnknown Outcome = "unknown" // timeout, connection error, or a retryable fault never resolved
)

// Operation is one logical client operation in a history: a write with all
// its resends under one MessageID, or one read.
type Operation struct {
	ID        int       `json:"id"`
	Client    int       `json:"client"`
	Kind      OpKind    `json:"kind"`
	Person    string    `json:"person"` // only in memory and in reports under a git-ignored folder; synthetic persons only
	Tag       string    `json:"tag,omitempty"`
	MessageID string    `json:"messageId,omitempty"`
	Invoke    time.Time `json:"invoke"`
	Return    time.Time `json:"return"` // zero when the outcome stayed unknown
	Outcome   Outcome   `json:"outcome"`
	FaultCode string    `json:"faultCode,omitempty"` // the FaultIdentifier of the last fault
	Attempts  int       `json:"attempts"`            // sends, resends included
	Gateways  []string  `json:"gateways,omitempty"`  // which gateway each attempt went to

	// For an acknowledged write: the card version it answered.
	// For a successful read: the card's version and the Tags of its drug
	// medications, in card order.
	Version int64    `json:"version,omitempty"`
	Tags    []string `json:"tags,omitempty"`

	// ResendVersion is, for an acknowledged write that the client
	// deliberately resent once more (to the other gateway) after its
	// answer, the card version the resend answered; 0 when there was no
	// such resend or it got no success. The stored first answer must come
	// back, so anything but Version means the write was applied twice.
	ResendVersion int64 `json:"resendVersion,omitempty"`

	// Failures are the attempts of the operation (resends and the
	// deliberate resend included) that got no success answer, in order.
	Failures []AttemptFailure `json:"failures,omitempty"`
}

// AttemptFailure is one send that got no success answer: a SOAP fault,
// retryable or not, or no SOAP answer at all (a timeout, a refused or
// reset connection, a non-SOAP HTTP answer). Every one is a failed request
// as its client saw it, even when a resend then succeeded.
type AttemptFailure struct {
	At      time.Time `json:"at"` // when the answer (or the error) came
	Gateway string    `json:"gateway"`
	// Fault is the FaultIdentifier (with " (retryable)" for a retryable
	// fault), or "transport: " and the error.
	Fault string `json:"fault"`
}

// FinalCard is a person's card read straight from the shard database that
// owns it after the run, bypassing gateways and the cache.
type FinalCard struct {
	Person string
	// Database is the shard database that owns the person's shard at the
	// end of the run.
	Database string
	Version  int64
	Tags     []string // every drug medication's tag, duplicates kept
}

// MoveStep is one journaled step of a shard move a nemesis ran, as the
// catalog's journal (tables moves and move_steps) holds it after the move.
type MoveStep struct {
	Move     int64     `json:"move"`
	Shard    int       `json:"shard"`
	Source   string    `json:"source"`
	Target   string    `json:"target"`
	Step     string    `json:"step"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"` // zero when the step never finished
	Detail   string    `json:"detail,omitempty"`
}

// History is everything one run recorded.
type History struct {
	Operations []Operation
	Final      map[string]FinalCard // by person
	// Moves are the steps of the shard moves the nemesis ran, in order.
	Moves []MoveStep
}
