package envelope

import (
	"encoding/xml"
	"strconv"
	"strings"
)

// The header blocks every request carries are decoded by hand
// (UnmarshalXML), not by encoding/xml's reflection, which was most of the
// header parse's cost after the lexer (docs/performance.md, round 3). The
// helpers here decode as encoding/xml decodes a struct: a field's element
// is matched by its name (and namespace, where the field's tag names one),
// a string field gets the character data directly inside its element
// (child elements skipped, comments dropped), a later element of the same
// name overwrites an earlier one (a struct one is merged into), unknown
// elements and character data between fields are skipped.
// TestHandDecodingMatchesEncodingXML and FuzzHandDecoding hold them to
// that; the token filter under the decoder still applies the limits and
// the namespace checks.

// ReadChildren calls child for each child element of the element the
// decoder has just returned the start of, up to its end; child must read
// its element to its end (or Skip it).
func ReadChildren(d *xml.Decoder, child func(start xml.StartElement) error) error {
	for {
		t, err := d.Token()
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			if err := child(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// ReadText reads the element the decoder has just returned the start of
// and returns the text directly inside it, as encoding/xml fills a string
// field.
func ReadText(d *xml.Decoder) (string, error) {
	var text []byte
	for {
		t, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := t.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.StartElement:
			if err := d.Skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return string(text), nil
		}
	}
}

// ReadBool reads the element as encoding/xml fills a bool field: empty is
// false, else strconv.ParseBool of the trimmed text.
func ReadBool(d *xml.Decoder) (bool, error) {
	s, err := ReadText(d)
	if err != nil || s == "" {
		return false, err
	}
	return strconv.ParseBool(strings.TrimSpace(s))
}

// UnmarshalXML implements xml.Unmarshaler.
func (s *Security) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error {
	return ReadChildren(d, func(el xml.StartElement) error {
		switch el.Name {
		case xml.Name{Space: NamespaceWSSE, Local: "UsernameToken"}:
			if s.UsernameToken == nil {
				s.UsernameToken = &UsernameToken{}
			}
			return s.UsernameToken.UnmarshalXML(d, el)
		case xml.Name{Space: NamespaceWSU, Local: "Timestamp"}:
			if s.Timestamp == nil {
				s.Timestamp = &Timestamp{}
			}
			return s.Timestamp.UnmarshalXML(d, el)
		}
		return d.Skip()
	})
}

// UnmarshalXML implements xml.Unmarshaler.
func (u *UsernameToken) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error {
	return ReadChildren(d, func(el xml.StartElement) error {
		var err error
		switch el.Name {
		case xml.Name{Space: NamespaceWSSE, Local: "Username"}:
			u.Username, err = ReadText(d)
		case xml.Name{Space: NamespaceWSSE, Local: "Password"}:
			err = u.Password.UnmarshalXML(d, el)
		case xml.Name{Space: NamespaceWSSE, Local: "Nonce"}:
			u.Nonce, err = ReadText(d)
		case xml.Name{Space: NamespaceWSU, Local: "Created"}:
			u.Created, err = ReadText(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

// UnmarshalXML implements xml.Unmarshaler: Type is the last attribute of
// that local name, in any namespace, as encoding/xml matches an attribute
// field whose tag names none.
func (p *Password) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		if a.Name.Local == "Type" {
			p.Type = a.Value
		}
	}
	value, err := ReadText(d)
	if err != nil {
		return err
	}
	p.Value = value
	return nil
}

// UnmarshalXML implements xml.Unmarshaler.
func (t *Timestamp) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error {
	return ReadChildren(d, func(el xml.StartElement) error {
		var err error
		switch el.Name {
		case xml.Name{Space: NamespaceWSU, Local: "Created"}:
			t.Created, err = ReadText(d)
		case xml.Name{Space: NamespaceWSU, Local: "Expires"}:
			t.Expires, err = ReadText(d)
		default:
			err = d.Skip()
		}
		return err
	})
}
