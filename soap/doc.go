// Package soap is the gateway's SOAP edge: it parses envelopes within
// limits, authenticates the calling system, dispatches on the body's
// qualified wrapper element to the medcard service, and answers in the SOAP
// version it was asked in. gowsdl has no server side, so this runtime is
// ours; the WSDL it serves is package wsdl: on GET at ?wsdl (Config.WSDL,
// each header a part of its request message, for the Java toolchains), at
// ?singleWsdl the view for .NET's importers with the header parts in
// messages of their own (Config.SingleWSDL), and with &soap=1.1 the
// SOAP-1.1-only view of either (Config.WSDLSOAP11, SingleWSDLSOAP11).
//
// The wire layer, package soap/envelope, reads the envelope, the header
// blocks and their targeting, WS-Security and WS-Addressing; it imports
// nothing of ours and fails with an *envelope.Error of a Kind. This
// package reads the HTTP request (gzip, the size on the wire), tells the
// envelope package our names (request.go: our header blocks, the
// operations' wrapper elements), authenticates, dispatches, and answers;
// fault.go is the one place a wire error becomes a catalogue fault.
//
// # Parsing
//
// The body is read up to Limits.MaxBytes after gzip decompression. It may
// be UTF-8 or UTF-16 (WS-I Basic Profile, R1012): a byte-order mark, else
// a charset=utf-16 in the Content-Type, else a first "<" as UTF-16 says
// which (envelope/charset.go); a UTF-16 body may take up to twice the limit on the
// wire, and the limit then holds for its UTF-8 form, which is what the
// parser reads. The XML decoder reads through a token filter that refuses
// DOCTYPEs and other directives, processing instructions, more than
// MaxDepth levels and more than MaxTokens tokens, so the limits hold
// inside every DecodeElement too; a tag of more than 64 attributes, a name
// of more than 256 bytes and an attribute value of more than 4096 are
// refused as well (envelope/tokens.go). At most Config.MaxConcurrentParses
// envelopes are parsed at once (four per CPU); a request waits its turn
// within its deadline, then gets ServiceUnavailable. A refusal quotes a
// name or an action cut short, digit runs masked, never the message's
// text. Every element inside the body's wrapper
// and inside our own header blocks must be in our namespace
// (WrongNamespace otherwise): encoding/xml matches fields by local name
// alone, so the filter checks.
//
// # Headers
//
// A header block is ours when it has no role (SOAP 1.2: or the role next
// or ultimateReceiver; SOAP 1.1: no actor or the actor next). Blocks for
// the role none or any other role or actor are ignored, mustUnderstand or
// not, as SOAP's processing model says: a proxy's wsse:Security, say. Of
// ours, we understand wsse:Security (UsernameToken, wsu:Timestamp), our
// MessageHeader, WhitelistingHeader, OnBehalfOf and ConsentHeader, and
// WS-Addressing 1.0; any other marked mustUnderstand="1"/"true" is refused with
// HeaderNotUnderstood, all of them in one fault, which in SOAP 1.2 names
// each in an env:NotUnderstood header block (its qname's prefix declared
// on the block).
//
// # WS-Addressing
//
// wsa:Action, MessageID, To, ReplyTo, FaultTo, From and RelatesTo are
// understood (envelope/addressing.go). A request that sends any of them must send
// a wsa:Action, and it must be its operation's:
//
//	request  <ns>/<Op>                                   the WSDL's soapAction, or
//	         <ns>/MedicineCardPortType/<Op>Request       the default action pattern
//	answer   <ns>/MedicineCardPortType/<Op>Response      (WS-Addressing 1.0 Metadata, 4.4.4)
//	fault    <ns>/MedicineCardPortType/<Op>/Fault/MedicineCardFault
//	         .../addressing/fault for the addressing faults below,
//	         .../addressing/soap/fault for MustUnderstand, VersionMismatch,
//	         MalformedMessage and faults before the operation is known
//
// An action naming another operation or none is ActionNotSupported, a
// ReplyTo or FaultTo other than the anonymous address is
// OnlyAnonymousAddressSupported (the answer goes back on the connection),
// a missing Action, an empty or overlong MessageID or a repeated header is
// InvalidAddressingHeader. These are catalogue faults like every other,
// named after the WS-Addressing SOAP binding's: integrators match one
// catalogue, and the SOAP 1.2 subcode stays mc:<FaultID>. The answer, and
// every fault after the headers were read, carries wsa:Action and
// wsa:RelatesTo (the request's wsa:MessageID as sent). wsa:To is not
// checked: we are where the request arrived.
//
// The idempotency key of a write is our MessageHeader's MessageID; when a
// request has none (a client generated without our headers), its
// wsa:MessageID serves, a urn:uuid: one in lower case (UUIDs are
// case-insensitive and stacks print them either way), so a resend is
// applied once. Either may have 200 characters at most.
//
// # Security
//
// A wsu:Timestamp in the request's wsse:Security is checked (Expires
// passed more than five minutes ago by our clock: MessageExpired; Created
// more than five minutes ahead: NotAuthenticated; the skew is WCF's
// default MaxClockSkew) and answered, answers and faults alike, with a
// wsse:Security holding a wsu:Timestamp of ours (Created now, Expires five
// minutes on), as WCF expects of a secured exchange. It is not marked
// mustUnderstand, so a client without WS-Security still reads the answer.
//
// # Consent and the audit row
//
// Every request's audit row (and so the citizen's access log,
// GetAccessLog) records who asked: the system and role of the
// whitelisting header and its organisation, the OnBehalfOf person, the
// MessageHeader's MessageID and FlowID (200 characters at most), and the
// optional ConsentHeader's Consent (None, Given or Withdrawn; None without
// the header) and EmergencyOverride (xs:boolean). A value outside those is
// InvalidFieldValue; an override asked for by a role other than Doctor is
// RoleNotAllowed (medcard/accesslog.go says why).
//
// A citizen may restrict access to their card (SetAccessRestriction, the
// Citizen role only). A read of a restricted card (GetMedicineCard,
// GetDrugMedication, GetPrescription) by any role but Citizen is then
// AccessRestricted (unauthorized, not retryable) and records nothing,
// unless it asks for EmergencyOverride: a doctor's override reads the card
// anyway ("værdispring"), audited with EmergencyOverride true. Writes are
// not refused (a pharmacy still dispenses). Every answered request that
// asked for an override is counted in medcard_emergency_overrides_total
// by op and logged once ("emergency override", with op, request_id and
// whether it looked past a restriction; no person).
//
// # Compression
//
// An answer of gzipMinBytes (1400) or more is gzip-compressed when the
// request's Accept-Encoding allows gzip (q > 0, or * when gzip is not
// named); smaller ones, faults mostly, fit one TCP segment anyway and stay
// plain. Compressed answers say Vary: Accept-Encoding.
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
// (medcard/errors.go), or an *envelope.Error, which catalogued (fault.go)
// turns into one by its kind (Malformed and TooDeep: MalformedMessage,
// TooLarge: MessageTooLarge, VersionMismatch: SOAPVersionMismatch,
// NotUnderstood: HeaderNotUnderstood, WrongNamespace, UnknownBody:
// UnknownOperation, InvalidAddressing: InvalidAddressingHeader,
// ActionNotSupported, OnlyAnonymousAddress: OnlyAnonymousAddressSupported,
// Expired: MessageExpired, InvalidTimestamp: NotAuthenticated); anything
// else is answered as InternalError with no detail of its content.
// classify (fault.go) is the one place a fault becomes a SOAP fault code:
//
//	fault / code                      SOAP 1.1 faultcode     SOAP 1.2 Code        HTTP
//	SOAPVersionMismatch               soap:VersionMismatch   env:VersionMismatch  500
//	HeaderNotUnderstood               soap:MustUnderstand    env:MustUnderstand   500
//	invalid, not_found, conflict,
//	unauthorized                      soap:Client            env:Sender           500
//	unavailable, internal             soap:Server            env:Receiver         500
//
// Every fault is HTTP 500, in both versions. SOAP 1.2 part 2 (7.5.1.2)
// asks 400 for env:Sender, but WCF reads a fault only from a 500 (a 400
// is a ProtocolException with the fault unread), while JAX-WS RI, CXF,
// Axis, zeep, PHP's SoapClient and node-soap all read a fault from a 500
// in either version; SOAP 1.1 (and WS-I Basic Profile, R1126) asks 500
// anyway. So one status serves every toolchain our integrators use.
//
// The detail is mc:MedicineCardFault with the stable FaultIdentifier,
// the code, a message safe for the caller, Retryable (true for code
// unavailable: resend with the same MessageID) and the request id. SOAP 1.2
// faults also carry the fault ID as the env:Subcode. Every QName prefix in
// a SOAP 1.2 fault's content (env:, mc:) is declared on env:Fault itself,
// since WCF reads the fault apart from its envelope. Only internal and
// unavailable faults are logged with their cause; no fault and no log line
// carries a person identifier or card content.
package soap
