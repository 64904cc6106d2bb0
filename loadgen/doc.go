// Package loadgen is a SOAP load generator for the medicine card gateway:
// real HTTP with keep-alive, a closed loop (N workers, each sending its
// next action when the last one is answered) or an open loop (a target
// rate of actions per second, whatever the answers do), a weighted mix of
// operations, a uniform or Zipf choice of the persons `gateway seed`
// loaded, SOAP 1.1 or 1.2, and WS-Security UsernameToken authentication.
// The envelopes are written and the faults read by internal/soapclient, the
// client the tests use too; the generator reads its successful answers
// itself (answer.go), with an allocation-free lexer.
//
// # Actions and operations
//
// The mix is of actions. Most actions are one SOAP request; two are small
// flows whose requests are each counted under their own operation name:
//
//   - PauseDrugMedication pauses an Active drug medication the generator
//     saw on the person's card (in a GetMedicineCard or CreateDrugMedication
//     answer). Knowing none, it first creates one (CreateDrugMedication).
//   - CreatePharmacyEffectuation dispenses as a pharmacy: CreateOrder,
//     StartEffectuation, CreatePharmacyEffectuation on a prescription the
//     generator made for that person as a doctor (CreatePrescription with 99
//     iterations and no interval, so a hundred dispensings per
//     prescription). One person's pharmacy flows never overlap: an order
//     locks its prescription.
//
// # Card versions
//
// Writes carry the card version they are based on. The generator keeps the
// highest version it saw per person, from every write answer and every
// GetMedicineCard; it starts at 0. The version is often stale — other
// workers write the same person — and the service merges such writes with a
// VersionMismatchWarning, which the report counts as warnings, not errors.
// A version is never higher than the card's, since it only ever comes from
// the service; should the service still refuse one as newer than the card
// (InvalidMedicineCardVersion: the card was reloaded, or a cache served a
// card the database does not hold), that counts as an error and the
// generator starts that person over from version 0.
//
// # Latency and coordinated omission
//
// Every request's latency goes into an HDR histogram per operation (1 µs to
// 60 s, 3 significant digits) and into a per-second series by completion
// time. In the closed loop a request is timed from when it is sent. In the
// open loop an action is timed from when the schedule said it should start,
// not from when a worker got round to it: if the service stalls, the
// requests that should have gone out meanwhile are late, and their wait
// counts (the coordinated-omission correction of wrk2 and HdrHistogram).
// Later requests of a flow are timed from their own send, since they are
// meant to follow the previous answer. Actions the schedule still owed at the
// end are reported as Unsent.
//
// # Errors
//
// A SOAP fault counts as an error under its FaultIdentifier; a transport
// failure under "transport:<kind>", an HTTP answer that is no SOAP fault
// under "HTTP <status>". Two faults of PauseDrugMedication are expected and
// reported apart, not as errors: StatusTransitionNotAllowed and
// ItemHasUnresolvedConflict, the price of a rough per-person cache when
// several workers pick the same person (the item was paused or put in
// conflict since the generator last saw it).
//
// # Safety
//
// The generator refuses a URL whose host is not loopback (localhost,
// 127.0.0.0/8, ::1) unless Config.AllowRemote is set, and checks again when
// dialling, so that it never hits a production system by accident. The HTTP
// transport ignores proxy settings.
package loadgen
