// Package soapclient is the one SOAP client of the gateway's own tools and
// tests: the load generator (`gateway bench`), the robustness suite and the
// end-to-end tests all build their requests and read their answers here,
// so that what they send is written down once.
//
// It imports nothing of ours. Integrators' clients are generated from the
// WSDL (internal/wsdlclient, zeep, JAX-WS); this package is the hand-held
// one, which can also send what no generated client would: a raw or
// truncated envelope, an unknown mustUnderstand header, a wrong password.
//
// # Requests
//
// A Request names the operation, the caller (Identity) and the body, and
// Client.Do writes it as a SOAP 1.1 or 1.2 envelope with our headers: the
// WS-Security UsernameToken (a PasswordDigest with a fresh nonce and
// created time per send by default, or PasswordText), the MessageHeader
// with the MessageID a resend keeps, the WhitelistingHeader, and optionally
// OnBehalfOf, a wsu:Timestamp and the WS-Addressing 1.0 headers that WCF's
// bindings send (wsa:Action, MessageID, To, ReplyTo). Request.Raw sends
// bytes as they stand instead, for tests of malformed input.
//
// The prefixes are fixed (s for the envelope, mc for our namespace, wsse,
// wsu, wsa), declared on the Envelope element, so a test may write its body
// or an extra header with them.
//
// # Answers
//
// Do reads the whole answer into a Response the caller may reuse, so the
// load generator sends without allocating per request what it need not.
// SOAP's HTTP binding answers every fault with a status other than 200, so
// only such answers are parsed for a Fault (code, subcode, reason and our
// MedicineCardFault detail: FaultIdentifier, Retryable, RequestIdentifier);
// a success is decoded on demand (Response.Decode, or the caller's own
// parser on Response.Body), and so are the answer's headers
// (Response.Headers: wsa:RelatesTo, wsu:Timestamp).
//
// # Transport
//
// The Client posts with the *http.Client it is given, so TLS (a private CA,
// client certificates) is that client's tls.Config.
package soapclient
