package envelope

import (
	"encoding/binary"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A message is UTF-8 or UTF-16, as WS-I Basic Profile 1.1 (R1012) allows.
// toUTF8 turns either into the UTF-8 the parser reads; the standard
// library's unicode/utf16 is all it takes.

// Byte-order marks XML allows before the document (XML 1.0, 4.3.3 and
// appendix F). WCF's text encoder writes the UTF-8 one before <?xml.
const (
	utf8BOM    = "\xef\xbb\xbf"
	utf16BEBOM = "\xfe\xff"
	utf16LEBOM = "\xff\xfe"
)

// utf16Order is a UTF-16 byte order, or none for a UTF-8 document.
type utf16Order int

const (
	notUTF16 utf16Order = iota
	bigEndian
	littleEndian
)

// sniffUTF16 says how doc is encoded, and how many bytes of byte-order
// mark to drop: a byte-order mark decides; without one, the Content-Type's
// charset (utf-16 meaning big-endian unless the document's first
// character says otherwise, RFC 2781); without that, the first character
// "<" as UTF-16 (XML 1.0 appendix F).
func sniffUTF16(doc []byte, charset string) (utf16Order, int) {
	s := string(doc[:min(len(doc), 4)]) // no allocation: the conversion is only compared
	switch {
	case strings.HasPrefix(s, utf8BOM):
		return notUTF16, len(utf8BOM)
	case strings.HasPrefix(s, utf16BEBOM):
		return bigEndian, 2
	case strings.HasPrefix(s, utf16LEBOM):
		return littleEndian, 2
	}
	lt16BE, lt16LE := strings.HasPrefix(s, "\x00<"), strings.HasPrefix(s, "<\x00")
	switch {
	case strings.EqualFold(charset, "utf-16be"):
		return bigEndian, 0
	case strings.EqualFold(charset, "utf-16le"):
		return littleEndian, 0
	case strings.EqualFold(charset, "utf-16") && lt16LE:
		return littleEndian, 0
	case strings.EqualFold(charset, "utf-16"):
		return bigEndian, 0
	case lt16BE:
		return bigEndian, 0
	case lt16LE:
		return littleEndian, 0
	}
	return notUTF16, 0
}

// MayBeUTF16 reports whether a body whose first bytes are head could be
// UTF-16, which may take up to twice Limits.MaxBytes on the wire: Parse
// holds the limit for its UTF-8 form.
func MayBeUTF16(head []byte, charset string) bool {
	order, _ := sniffUTF16(head, charset)
	return order != notUTF16
}

// toUTF8 returns the document of body as UTF-8 without a byte-order mark,
// and whether it was UTF-16. The size limit holds for the UTF-8 form, the
// one the parser reads and the limit was set for: a UTF-16 document of
// mostly ASCII takes twice the bytes on the wire and is not refused for
// that.
//
// Errors: Malformed (an odd length, an unpaired surrogate), TooLarge.
func toUTF8(body []byte, charset string, max int64) ([]byte, bool, error) {
	order, skip := sniffUTF16(body, charset)
	body = body[skip:]
	if order == notUTF16 {
		if int64(len(body)) > max {
			return nil, false, tooLarge(max)
		}
		return body, false, nil
	}
	if len(body)%2 != 0 {
		return nil, true, errorf(Malformed, "the UTF-16 message has an odd number of bytes")
	}
	unit := binary.BigEndian.Uint16
	if order == littleEndian {
		unit = binary.LittleEndian.Uint16
	}
	out := make([]byte, 0, min(int64(len(body)/2)+64, max+4))
	for i := 0; i < len(body); i += 2 {
		r := rune(unit(body[i:]))
		if utf16.IsSurrogate(r) {
			if i+3 >= len(body) {
				return nil, true, unpairedSurrogate()
			}
			r = utf16.DecodeRune(r, rune(unit(body[i+2:])))
			if r == utf8.RuneError {
				return nil, true, unpairedSurrogate()
			}
			i += 2
		}
		out = utf8.AppendRune(out, r)
		if int64(len(out)) > max {
			return nil, true, tooLarge(max)
		}
	}
	return out, true, nil
}

func unpairedSurrogate() error {
	return errorf(Malformed, "the UTF-16 message has an unpaired surrogate")
}

func tooLarge(max int64) error {
	return errorf(TooLarge, "the message is larger than %d bytes", max)
}

// acceptDeclaredUTF16 is the XML decoder's CharsetReader for a document
// sent as UTF-16, which toUTF8 has already made UTF-8: its declaration
// may say UTF-16, nothing else.
func acceptDeclaredUTF16(label string, r io.Reader) (io.Reader, error) {
	if strings.EqualFold(label, "utf-16") || strings.EqualFold(label, "utf-16le") || strings.EqualFold(label, "utf-16be") {
		return r, nil
	}
	return refuseDeclaredCharset(label, r)
}

// refuseDeclaredCharset is the CharsetReader for a UTF-8 document, whose
// declaration, if it names an encoding, must say UTF-8 (encoding/xml does
// not ask about that one).
func refuseDeclaredCharset(label string, _ io.Reader) (io.Reader, error) {
	return nil, errorf(Malformed,
		"the XML declaration names the encoding %.40q, which is not the message's: send UTF-8 or UTF-16", quoted(label))
}

// IsChar reports whether XML 1.0 allows the character r (its Char
// production), as encoding/xml judges text.
func IsChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
