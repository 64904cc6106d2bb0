// Package medcard is the shared medicine card's domain: the card and its
// items, the business rules and the merge table, the fault catalogue, and
// the Service that every consumer calls (the SOAP edge, the pharmacists'
// web UI, the CLI). It imports nothing of ours; the storage and cache
// adapters implement the interfaces it declares.
//
// A consumer says who asks, and under which MessageID, in a Call. It reads
// with GetMedicineCard, GetDrugMedication and GetPrescription, and writes
// with Change, passing the request type of the write it wants; a request
// type that serves several operations names the one it asks for. Every
// write is read-resolve-modify-write on one person's card, committed with
// its audit row and its answer, which a resend with the same MessageID
// gets again.
//
// # Where things live
//
//	service.go      Service, its options, Caller and Call
//	change.go       Change, ChangeRequest, and the table of write operations and their request types
//	write.go        read-resolve-modify-write, the mutation a change applies, WriteResult and warnings
//	idempotency.go  the request hash that tells a resend from a reused MessageID
//	reads.go        the reads and what they answer
//	cache.go        what the service needs of the cache and its fence, and how writes settle it and reads fill it
//	flights.go      one database read for concurrent cache misses on a card
//	store.go        what the service needs of storage (Store, ReadAuditor) and what a write hands it
//	medication.go   drug medication writes: create, the five changes, UpdateMedicineCard, ResolveConflict
//	review.go       the reviewed marker
//	prescribing.go  prescriptions
//	pharmacy.go     orders and effectuations
//	inbox.go        the pharmacy's inbox: its open orders on every card (GetNewOrders)
//	accesslog.go    the citizen's access log (GetAccessLog), consent and the emergency override
//	restriction.go  the citizen's restriction of access to the card (SetAccessRestriction) and the read check
//	rules.go        the business rules (transitions, dispensing checks); RULES.md describes them
//	merge.go        the merge table for a change based on an older card version
//	validator.go    field checks of a request
//	card.go         the card, its items and dates, and finding an item on it
//	person.go       the person identifier (CPR)
//	operations.go   the operation names
//	roles.go        roles, which role may call which operation, and integrating systems
//	errors.go       the error codes and the fault catalogue
//	codec.go        the stored form of a card
//	requestlog.go   facts adapters note for the edge's one log line per request
//	seedbug_*.go    a bug planted only in builds of the robustness suite
package medcard
