package envelope

import "sync"

// Vocabulary is the names and attribute values the lexer returns without
// copying them out of the message: a request's element names, prefixes and
// namespace declarations are nearly always the same few dozen strings, and
// copying each was a fifth of the lexer's time and most of its
// allocations. A word not in it is copied as before; what is returned is
// the same either way.
type Vocabulary struct {
	words map[string]string
}

// NewVocabulary returns a vocabulary of words and the envelope package's
// own (the SOAP, WS-Security and WS-Addressing names and namespaces, and
// the prefixes stacks use for them). It is read-only once made, so one
// serves every request.
func NewVocabulary(words ...string) *Vocabulary {
	v := &Vocabulary{words: map[string]string{}}
	for _, list := range [][]string{ownWords, words} {
		for _, w := range list {
			v.words[w] = w
		}
	}
	return v
}

// ownWords is what every request of any application says.
var ownWords = []string{
	NamespaceSOAP11, NamespaceSOAP12, NamespaceWSSE, NamespaceWSU, NamespaceWSA, nsXML,
	roleNext, roleUltimateReceiver, actorNext, PasswordText, PasswordDigest,
	"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary",
	"Envelope", "Header", "Body", "Fault", "mustUnderstand", "actor", "role", "encodingStyle",
	"Security", "UsernameToken", "Username", "Password", "Nonce", "Created", "Expires", "Timestamp",
	"Type", "EncodingType", "Id",
	"Action", "MessageID", "To", "ReplyTo", "FaultTo", "From", "RelatesTo", "Address", "RelationshipType",
	"xmlns", "xml", "soap", "soapenv", "soap12", "SOAP-ENV", "env", "s", "S", "wsse", "wsu", "o", "u", "a",
	"wsa", "xsi", "xsd", "tns", "ns", "ns0", "ns1", "ns2", "ns3", "ns4", "mc", "med", "urn", "true", "false", "1", "0",
}

// defaultVocabulary serves a Config without one.
var defaultVocabulary = sync.OnceValue(func() *Vocabulary { return NewVocabulary() })

// word returns b as a string: the vocabulary's, or a copy.
func (v *Vocabulary) word(b []byte) string {
	if w, ok := v.words[string(b)]; ok { // the conversion in a map index does not allocate
		return w
	}
	return string(b)
}

// Has reports whether w is in the vocabulary.
func (v *Vocabulary) Has(w string) bool {
	_, ok := v.words[w]
	return ok
}
