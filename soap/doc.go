// Package soap is the gateway's SOAP edge: it parses envelopes within
// limits, authenticates the calling system, dispatches on the body's
// qualified wrapper element to the medcard service, and answers in the SOAP
// version it was asked in. gowsdl has no server side, so this runtime is
// ours; the WSDL it serves is package wsdl: on GET at ?wsdl and ?singleWsdl
// (Config.WSDL), and its SOAP-1.1-only view at ?wsdl&soap=1.1
// (Config.WSDLSOAP11).
//
// # Parsing
//
// The body is read up to Limits.MaxBytes after gzip decompression. The XML
// decoder reads through a token filter that refuses DOCTYPEs and other
// directives, processing instructions, more than MaxDepth levels and more
// than MaxTokens tokens, so the limits hold inside every DecodeElement too.
// Header blocks we do not understand are skipped unless they carry
// mustUnderstand="1"/"true", which is refused.
//
// # Transport security
//
// transport.go adds what the connection says to the UsernameToken: a
// PasswordText (or untyped password) is refused with
// PasswordTextRequiresTLS unless the request came over TLS, to us or to a
// proxy in front (Config.TLSTerminatedUpstream), checked before the system
// is looked up; and a system registered with client certificate
// fingerprints must have presented one of them, verified in our own TLS
// handshake, else NotAuthenticated. A PasswordDigest needs no TLS.
//
// # Operations
//
// operations.go is the dispatch table: one entry per operation of the
// WSDL, chosen by the body's wrapper element <Op>Request in our namespace,
// mapping it to a read of the medcard service (CardService) or, for a
// write, to the domain request that names the operation, served by
// CardService.Change, and answering <Op>Response. Every write answers the
// schema's WriteResultType (the new card version, each touched item's
// type, identifier and version, and the warnings), except
// CreateDrugMedicationResponse, which keeps the new item's identifier and
// version first for older clients.
// TestDispatchTableMatchesWSDL keeps the table and the WSDL in step.
//
// # Faults
//
// Every failure is a *medcard.Error carrying a catalogue fault
// (medcard/errors.go); anything else is answered as InternalError with no
// detail of its content. classify (fault.go) is the one place a fault
// becomes a SOAP fault code:
//
//	fault / code                      SOAP 1.1 faultcode     SOAP 1.2 Code     HTTP (1.1 / 1.2)
//	SOAPVersionMismatch               soap:VersionMismatch   env:VersionMismatch  500 / 500
//	HeaderNotUnderstood               soap:MustUnderstand    env:MustUnderstand   500 / 400
//	invalid, not_found, conflict,
//	unauthorized                      soap:Client            env:Sender           500 / 400
//	unavailable, internal             soap:Server            env:Receiver         500 / 500
//
// The fault detail is mc:MedicineCardFault with the stable FaultIdentifier,
// the code, a message safe for the caller, Retryable (true for code
// unavailable: resend with the same MessageID) and the request id. SOAP 1.2
// faults also carry the fault ID as the env:Subcode. Only internal and
// unavailable faults are logged with their cause; no fault and no log line
// carries a person identifier or card content.
package soap
