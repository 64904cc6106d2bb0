package envelope

import (
	"bytes"
	"encoding/xml"
	"time"
)

// Reply is what the answer to a message must carry because of what the
// message sent: wsa:Action and wsa:RelatesTo when it used WS-Addressing,
// and a wsse:Security header with a wsu:Timestamp when its security header
// had one (WCF takes an answer without it, in that mode, as unsecured).
type Reply struct {
	addressing bool
	relatesTo  string // the request's wsa:MessageID as sent; "" if none
	timestamp  bool
}

// Reply returns what the answer to m must carry; for a message that could
// not be read to its end, what was read of it.
func (m *Message) Reply() Reply {
	return Reply{
		addressing: m.Addressing.Used(),
		relatesTo:  m.Addressing.MessageID,
		timestamp:  m.Security != nil && m.Security.Timestamp != nil,
	}
}

// Empty reports whether the answer needs no header block.
func (r Reply) Empty() bool { return !r.addressing && !r.timestamp }

// timestampFormat is how our wsu:Timestamp writes times: UTC with
// milliseconds, as WCF writes and expects them.
const timestampFormat = "2006-01-02T15:04:05.000Z"

// Write appends the header blocks to b, to go inside the answer's Header:
// each declares the namespaces it uses, so that a reader taking one out of
// the envelope can still read it. action is the answer's wsa:Action; the
// wsu:Timestamp says the answer was made now and is valid for validity.
// No block is marked mustUnderstand, so a client without WS-Addressing or
// WS-Security still reads the answer.
func (r Reply) Write(b *bytes.Buffer, action string, now time.Time, validity time.Duration) {
	if r.timestamp {
		now = now.UTC()
		b.WriteString(`<wsse:Security xmlns:wsse="` + NamespaceWSSE + `" xmlns:wsu="` + NamespaceWSU + `"><wsu:Timestamp><wsu:Created>`)
		b.WriteString(now.Format(timestampFormat))
		b.WriteString(`</wsu:Created><wsu:Expires>`)
		b.WriteString(now.Add(validity).Format(timestampFormat))
		b.WriteString(`</wsu:Expires></wsu:Timestamp></wsse:Security>`)
	}
	if r.addressing {
		b.WriteString(`<wsa:Action xmlns:wsa="` + NamespaceWSA + `">`)
		_ = xml.EscapeText(b, []byte(action))
		b.WriteString(`</wsa:Action>`)
		if r.relatesTo != "" {
			b.WriteString(`<wsa:RelatesTo xmlns:wsa="` + NamespaceWSA + `">`)
			_ = xml.EscapeText(b, []byte(r.relatesTo))
			b.WriteString(`</wsa:RelatesTo>`)
		}
	}
}

// WriteNotUnderstood appends the SOAP 1.2 env:NotUnderstood header block
// naming a refused header, its qname's prefix declared on the block;
// prefix is the one the answer binds to the SOAP 1.2 envelope namespace.
func WriteNotUnderstood(b *bytes.Buffer, prefix string, n xml.Name) {
	if n.Space == "" {
		b.WriteString(`<` + prefix + `:NotUnderstood qname="`)
		_ = xml.EscapeText(b, []byte(n.Local))
		b.WriteString(`"/>`)
		return
	}
	b.WriteString(`<` + prefix + `:NotUnderstood xmlns:h="`)
	_ = xml.EscapeText(b, []byte(n.Space))
	b.WriteString(`" qname="h:`)
	_ = xml.EscapeText(b, []byte(n.Local))
	b.WriteString(`"/>`)
}
