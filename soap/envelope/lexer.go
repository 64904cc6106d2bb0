package envelope

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// lexer reads the raw tokens of a UTF-8 document held in memory, as
// xml.Decoder.RawToken does, for the markup SOAP requests are made of:
// elements with quoted attributes, text without entity or character
// references, an XML declaration that names UTF-8 or no encoding. It is
// what Parse reads first; encoding/xml's tokenizer was two thirds of the
// parse, itself a quarter of a cached read's CPU (docs/performance.md,
// round 3).
//
// It returns exactly the tokens RawToken returns, or, at the first thing
// it does not read itself (a comment, CDATA, a reference, a carriage
// return in text, a directive, a processing instruction, a non-ASCII name,
// anything malformed), errUnusual, and Parse reads the message again with
// encoding/xml from the start. Everything above the raw tokens (the
// limits, the namespace checks, the element nesting, DecodeElement) is the
// same either way, so a message is read the same whichever tokenizer read
// it, and every refusal (with its message) comes from encoding/xml.
// TestLexerMatchesRawToken and FuzzLexer hold it to that.
type lexer struct {
	doc   []byte
	pos   int
	vocab *Vocabulary
	// unusual is set once the lexer has left the message to encoding/xml.
	unusual bool
	// toClose is the name of a self-closing element whose EndElement is
	// due next.
	toClose   xml.Name
	needClose bool
}

// errUnusual is the lexer's error for what it leaves to encoding/xml.
var errUnusual = errors.New("envelope: markup left to encoding/xml")

// RawToken returns the next token, as xml.Decoder.RawToken. CharData
// refers to the document, which is never changed.
func (l *lexer) RawToken() (xml.Token, error) {
	if l.unusual {
		return nil, errUnusual
	}
	if l.needClose {
		l.needClose = false
		return xml.EndElement{Name: l.toClose}, nil
	}
	if l.pos >= len(l.doc) {
		return nil, io.EOF
	}
	if l.doc[l.pos] != '<' {
		return l.text()
	}
	l.pos++
	switch l.peek() {
	case '/':
		l.pos++
		name, ok := l.name()
		if !ok {
			return l.leave()
		}
		l.space()
		if l.peek() != '>' {
			return l.leave()
		}
		l.pos++
		return xml.EndElement{Name: name}, nil
	case '?':
		return l.declaration()
	}
	name, ok := l.name()
	if !ok {
		return l.leave()
	}
	var attr []xml.Attr
	for {
		l.space()
		switch l.peek() {
		case '/':
			l.pos++
			if l.peek() != '>' {
				return l.leave()
			}
			l.pos++
			l.needClose, l.toClose = true, name
			return xml.StartElement{Name: name, Attr: attr}, nil
		case '>':
			l.pos++
			return xml.StartElement{Name: name, Attr: attr}, nil
		}
		if len(attr) == maxAttributes {
			// Refused, before encoding/xml reads it, by checkAttributeCounts.
			return l.leave()
		}
		a := xml.Attr{}
		if a.Name, ok = l.name(); !ok {
			return l.leave()
		}
		l.space()
		if l.peek() != '=' {
			return l.leave()
		}
		l.pos++
		l.space()
		quote := l.peek()
		if quote != '"' && quote != '\'' {
			return l.leave()
		}
		l.pos++
		start := l.pos
		for l.pos < len(l.doc) && l.doc[l.pos] != quote {
			if !l.plainChar(false) {
				return l.leave()
			}
		}
		if l.pos >= len(l.doc) {
			return l.leave()
		}
		a.Value = l.vocab.word(l.doc[start:l.pos])
		l.pos++
		attr = append(attr, a)
	}
}

// leave gives the message to encoding/xml.
func (l *lexer) leave() (xml.Token, error) {
	l.unusual = true
	return nil, errUnusual
}

// peek returns the byte at the position, 0 at the end (which no rule
// takes, so the end of the document leaves it to encoding/xml).
func (l *lexer) peek() byte {
	if l.pos < len(l.doc) {
		return l.doc[l.pos]
	}
	return 0
}

// space skips what encoding/xml's Decoder.space skips.
func (l *lexer) space() {
	for l.pos < len(l.doc) {
		switch l.doc[l.pos] {
		case ' ', '\r', '\n', '\t':
			l.pos++
		default:
			return
		}
	}
}

// text returns the text up to the next "<" or the end.
func (l *lexer) text() (xml.Token, error) {
	start := l.pos
	for l.pos < len(l.doc) && l.doc[l.pos] != '<' {
		if l.doc[l.pos] == '>' && l.pos-start >= 2 && l.doc[l.pos-1] == ']' && l.doc[l.pos-2] == ']' {
			return l.leave() // "]]>" outside CDATA: encoding/xml refuses it
		}
		if !l.plainChar(true) {
			return l.leave()
		}
	}
	return xml.CharData(l.doc[start:l.pos]), nil
}

// plainChar steps over one character that encoding/xml's Decoder.text
// keeps as it is in text (inText) or in a quoted attribute value, and
// reports false, not moving, for any other: a reference, a carriage return
// (which it rewrites), a "<" (an error in a value), a character XML does
// not allow, bytes that are not UTF-8.
func (l *lexer) plainChar(inText bool) bool {
	c := l.doc[l.pos]
	switch {
	case c == '&' || c == '\r' || (c == '<' && !inText):
		return false
	case c < utf8.RuneSelf:
		if c < 0x20 && c != '\t' && c != '\n' {
			return false
		}
		l.pos++
		return true
	}
	r, n := utf8.DecodeRune(l.doc[l.pos:])
	if (r == utf8.RuneError && n == 1) || !IsChar(r) {
		return false
	}
	l.pos += n
	return true
}

// name reads a name as encoding/xml's Decoder.nsname does, for ASCII
// names; a name it would refuse, or one with other characters, is not
// read.
func (l *lexer) name() (xml.Name, bool) {
	start := l.pos
	for l.pos < len(l.doc) && isNameByte(l.doc[l.pos]) {
		l.pos++
	}
	s := l.doc[start:l.pos]
	if len(s) == 0 || l.peek() >= utf8.RuneSelf || !isNameStart(s[0]) {
		return xml.Name{}, false
	}
	colon := -1
	for i, c := range s {
		if c == ':' {
			if colon >= 0 {
				return xml.Name{}, false // more than one: encoding/xml refuses it
			}
			colon = i
		}
	}
	if colon <= 0 || colon == len(s)-1 {
		return xml.Name{Local: l.vocab.word(s)}, true
	}
	return xml.Name{Space: l.vocab.word(s[:colon]), Local: l.vocab.word(s[colon+1:])}, true
}

func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' ||
		'0' <= c && c <= '9' || c == '_' || c == ':' || c == '.' || c == '-'
}

func isNameStart(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == ':'
}

// declaration reads the XML declaration at the very start of the
// document when it says version 1.0 and, if anything, the encoding UTF-8,
// as encoding/xml's rawToken returns it: Target "xml", Inst what follows
// the target and its spaces up to "?>". Any other processing instruction
// is left to encoding/xml.
func (l *lexer) declaration() (xml.Token, error) {
	if l.pos != 1 {
		return l.leave()
	}
	l.pos++
	if target, ok := l.name(); !ok || target != (xml.Name{Local: "xml"}) {
		return l.leave()
	}
	l.space()
	start := l.pos
	end := bytes.Index(l.doc[start:], []byte("?>"))
	if end < 0 {
		return l.leave()
	}
	inst := l.doc[start : start+end]
	if !plainDeclaration(string(inst)) {
		return l.leave()
	}
	l.pos = start + end + 2
	return xml.ProcInst{Target: "xml", Inst: inst}, nil
}

// plainDeclaration reports whether inst, an XML declaration's content, is
// version="1.0" with at most an encoding="UTF-8" (any case) after it, in
// either quotes: what encoding/xml accepts without asking for a charset
// reader.
func plainDeclaration(inst string) bool {
	rest, ok := quotedPseudoAttr(inst, "version")
	if !ok || rest.value != "1.0" {
		return false
	}
	if strings.TrimRight(rest.after, " \t\n") == "" {
		return true
	}
	enc, ok := quotedPseudoAttr(strings.TrimLeft(rest.after, " \t\n"), "encoding")
	return ok && strings.EqualFold(enc.value, "utf-8") && strings.TrimRight(enc.after, " \t\n") == "" &&
		len(rest.after) > 0 && strings.ContainsAny(rest.after[:1], " \t\n")
}

type pseudoAttr struct{ value, after string }

// quotedPseudoAttr reads name="value" (or 'value') at the start of s.
func quotedPseudoAttr(s, name string) (pseudoAttr, bool) {
	s, ok := strings.CutPrefix(s, name+"=")
	if !ok || len(s) < 2 || (s[0] != '"' && s[0] != '\'') {
		return pseudoAttr{}, false
	}
	end := strings.IndexByte(s[1:], s[0])
	if end < 0 {
		return pseudoAttr{}, false
	}
	return pseudoAttr{value: s[1 : 1+end], after: s[2+end:]}, true
}
