// Package envelope reads SOAP 1.1 and 1.2 messages as an HTTP request
// carries them: the envelope, the header blocks and their targeting, the
// WS-Security header (UsernameToken, wsu:Timestamp) and WS-Addressing 1.0,
// within limits. It imports nothing of this module, so that it can be
// read, tested and reused on its own; what a message means is the
// application's, asked through Application. A failure is an *Error whose
// Kind the application maps to its own faults (the gateway does so in
// soap/fault.go, and only there).
//
// # What it refuses
//
// More than Limits.MaxBytes of the document as UTF-8, MaxDepth levels or
// MaxTokens tokens, an element with more than 64 attributes, a name of
// more than 256 bytes or an attribute value of more than 4096 (TooLarge,
// TooDeep); DOCTYPEs and other directives,
// processing instructions, text where SOAP allows none, a declared
// encoding the message is not in (Malformed); a root that is not a SOAP
// 1.1 or 1.2 Envelope (VersionMismatch); a body wrapper the application
// does not serve (UnknownBody) or in another namespace, and any element
// inside the wrapper or the application's header blocks that is not in
// the application's namespace (WrongNamespace: encoding/xml matches
// fields by local name alone, so the token filter checks).
//
// # Header blocks
//
// A block is ours when it has no role (SOAP 1.2: or the role next or
// ultimateReceiver; SOAP 1.1: no actor or the actor next); blocks for the
// role none or any other role or actor are skipped, mustUnderstand or
// not, as SOAP's processing model says. Of ours, wsse:Security, the
// WS-Addressing headers and the blocks the application understands are
// decoded; the others marked mustUnderstand are refused all at once
// (NotUnderstood, naming each; WriteNotUnderstood writes SOAP 1.2's
// env:NotUnderstood block for one).
//
// # Encodings
//
// UTF-8 or UTF-16, as WS-I Basic Profile 1.1 (R1012) allows: a byte-order
// mark decides, else a charset=utf-16, utf-16le or utf-16be, else a first
// "<" as UTF-16 (XML 1.0, appendix F). A UTF-16 message of mostly ASCII
// takes twice its UTF-8 bytes; MaxBytes holds for the UTF-8 form, so the
// HTTP layer may read up to twice MaxBytes of a body for which MayBeUTF16
// is true.
//
// # WS-Addressing and WS-Security
//
// Addressing.Check holds a message that used WS-Addressing to its body's
// actions and to anonymous ReplyTo and FaultTo addresses; MessageKey
// makes its wsa:MessageID an idempotency key. Timestamp.Check refuses an
// expired wsu:Timestamp. Message.Reply says which header blocks the answer
// must carry (wsa:Action and wsa:RelatesTo, a wsse:Security with a
// wsu:Timestamp) and writes them.
package envelope
