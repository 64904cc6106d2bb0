package soap

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/soap/envelope"
)

// The answers of the card reads (GetMedicineCard, GetDrugMedication,
// GetPrescription) and of the writes (WriteResponse) write their own XML
// here, without encoding/xml's reflection, which was a quarter of a cached
// read's CPU (docs/performance.md, round 3). The output is byte for byte
// what xml.Encoder writes for the same struct: the wrapper element declares
// our namespace as the default one, every field is an element in the
// struct's field order, omitempty fields are left out when zero, text is
// escaped as encoding/xml escapes it (appendEscaped) and times are written by
// their MarshalText. TestMarshalMatchesEncodingXML holds the two equal over
// generated cards and awkward text; a payload type without an appendXML
// method is still encoded by encoding/xml (writeResponse).

// xmlAppender is a payload that writes its own XML.
type xmlAppender interface {
	appendXML(w *xmlWriter)
}

var (
	_ xmlAppender = (*GetMedicineCardResponse)(nil)
	_ xmlAppender = (*GetDrugMedicationResponse)(nil)
	_ xmlAppender = (*GetPrescriptionResponse)(nil)
	_ xmlAppender = (*WriteResponse)(nil)
)

// xmlWriter appends elements to buf. The first error (a time that
// MarshalText refuses) is kept in err and stops nothing; the caller
// discards the output then.
type xmlWriter struct {
	buf []byte
	err error
}

// marshalAnswer appends a's XML to b, as xml.NewEncoder(b).Encode(a)
// would.
func marshalAnswer(b *bytes.Buffer, a xmlAppender) error {
	w := xmlWriter{buf: b.AvailableBuffer()} // a pooled buffer mostly holds the answer already
	a.appendXML(&w)
	b.Write(w.buf)
	return w.err
}

// wrapper opens a payload's wrapper element in namespace ns.
func (w *xmlWriter) wrapper(local, ns string) {
	w.buf = append(append(append(w.buf, '<'), local...), ` xmlns="`...)
	w.buf = append(appendEscaped(w.buf, ns), `">`...)
}

func (w *xmlWriter) open(name string) {
	w.buf = append(append(append(w.buf, '<'), name...), '>')
}

func (w *xmlWriter) close(name string) {
	w.buf = append(append(append(w.buf, "</"...), name...), '>')
}

func (w *xmlWriter) text(name, s string) {
	w.open(name)
	w.buf = appendEscaped(w.buf, s)
	w.close(name)
}

// textOmit is text for an omitempty field.
func (w *xmlWriter) textOmit(name, s string) {
	if s != "" {
		w.text(name, s)
	}
}

func (w *xmlWriter) int(name string, v int64) {
	w.open(name)
	w.buf = strconv.AppendInt(w.buf, v, 10)
	w.close(name)
}

// intOmit is int for an omitempty field.
func (w *xmlWriter) intOmit(name string, v int64) {
	if v != 0 {
		w.int(name, v)
	}
}

func (w *xmlWriter) bool(name string, v bool) {
	w.open(name)
	w.buf = strconv.AppendBool(w.buf, v)
	w.close(name)
}

// time writes t as encoding/xml writes a TextMarshaler: its text (RFC
// 3339, which has nothing to escape).
func (w *xmlWriter) time(name string, t time.Time) {
	w.open(name)
	text, err := t.AppendText(w.buf)
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	w.buf = text
	w.close(name)
}

// plainText marks the bytes encoding/xml writes as they are: printable
// ASCII but for the five markup characters.
var plainText = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune(`"&'<>`, rune(c))
	}
	return t
}()

// appendEscaped appends s escaped as encoding/xml escapes element text and
// attribute values (its printer.EscapeString): the five markup characters,
// tab, newline and carriage return as character references, and bytes
// that are not UTF-8 or runes outside XML's character range as U+FFFD.
func appendEscaped(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainText[c] {
			i++
			continue
		}
		var esc string
		width := 1
		switch {
		case c == '"':
			esc = "&#34;"
		case c == '\'':
			esc = "&#39;"
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '\t':
			esc = "&#x9;"
		case c == '\n':
			esc = "&#xA;"
		case c == '\r':
			esc = "&#xD;"
		case c == 0x7f:
			i++
			continue
		case c < utf8.RuneSelf:
			esc = "\uFFFD"
		default:
			var r rune
			r, width = utf8.DecodeRuneInString(s[i:])
			if envelope.IsChar(r) && !(r == utf8.RuneError && width == 1) {
				i += width
				continue
			}
			esc = "\uFFFD"
		}
		dst = append(append(dst, s[last:i]...), esc...)
		i += width
		last = i
	}
	return append(dst, s[last:]...)
}

// --- the payloads --------------------------------------------------------------

// cardResponse is GetMedicineCard's answer. A card from the cache carries
// the renditions of its stored bytes (medcard.Renditions): its answer is
// rendered once per view and then copied, the largest part of a cached
// read of a large card.
func cardResponse(card *medcard.Card) *GetMedicineCardResponse {
	if b := card.Renditions.Get(card.View); b != nil {
		return &GetMedicineCardResponse{rendered: b}
	}
	r := &GetMedicineCardResponse{MedicineCard: toXMLCard(card)}
	if card.Renditions != nil && card.View != "" {
		var w xmlWriter
		r.appendXML(&w)
		if w.err == nil {
			r.rendered = w.buf
			card.Renditions.Put(card.View, w.buf)
		}
	}
	return r
}

func (r *GetMedicineCardResponse) appendXML(w *xmlWriter) {
	if r.rendered != nil {
		w.buf = append(w.buf, r.rendered...)
		return
	}
	w.wrapper("GetMedicineCardResponse", Namespace)
	w.open("MedicineCard")
	r.MedicineCard.appendXML(w)
	w.close("MedicineCard")
	w.close("GetMedicineCardResponse")
}

func (r *GetDrugMedicationResponse) appendXML(w *xmlWriter) {
	w.wrapper("GetDrugMedicationResponse", Namespace)
	w.int("MedicineCardVersion", r.MedicineCardVersion)
	w.open("DrugMedication")
	r.DrugMedication.appendXML(w)
	w.close("DrugMedication")
	w.close("GetDrugMedicationResponse")
}

func (r *GetPrescriptionResponse) appendXML(w *xmlWriter) {
	w.wrapper("GetPrescriptionResponse", Namespace)
	w.int("MedicineCardVersion", r.MedicineCardVersion)
	appendItems(w, r.Prescription, r.Order, r.Effectuation)
	w.close("GetPrescriptionResponse")
}

func (r *WriteResponse) appendXML(w *xmlWriter) {
	w.wrapper(r.XMLName.Local, r.XMLName.Space)
	w.int("MedicineCardVersion", r.MedicineCardVersion)
	for i := range r.Item {
		it := &r.Item[i]
		w.open("Item")
		w.text("Type", it.Type)
		w.int("Identifier", it.Identifier)
		w.int("Version", it.Version)
		w.close("Item")
	}
	for i := range r.Warning {
		wn := &r.Warning[i]
		w.open("Warning")
		w.text("Code", wn.Code)
		w.text("Message", wn.Message)
		w.close("Warning")
	}
	w.close(r.XMLName.Local)
}

// --- the schema types ------------------------------------------------------------

func (c *xmlMedicineCard) appendXML(w *xmlWriter) {
	w.text("PersonIdentifier", c.PersonIdentifier)
	w.int("MedicineCardVersion", c.MedicineCardVersion)
	w.bool("NeedsAttention", c.NeedsAttention)
	if r := c.Reviewed; r != nil {
		w.open("Reviewed")
		r.By.appendXML(w, "By")
		w.int("MedicineCardVersion", r.MedicineCardVersion)
		w.close("Reviewed")
	}
	for i := range c.DrugMedication {
		w.open("DrugMedication")
		c.DrugMedication[i].appendXML(w)
		w.close("DrugMedication")
	}
	appendItems(w, c.Prescription, c.Order, c.Effectuation)
}

// appendItems writes prescriptions, orders and effectuations, each in an
// element of its type's name, as the card and GetPrescription list them.
func appendItems(w *xmlWriter, ps []xmlPrescription, orders []xmlOrder, es []xmlEffectuation) {
	for i := range ps {
		w.open("Prescription")
		ps[i].appendXML(w)
		w.close("Prescription")
	}
	for i := range orders {
		w.open("Order")
		orders[i].appendXML(w)
		w.close("Order")
	}
	for i := range es {
		w.open("Effectuation")
		es[i].appendXML(w)
		w.close("Effectuation")
	}
}

func (dm *xmlDrugMedication) appendXML(w *xmlWriter) {
	w.int("Identifier", dm.Identifier)
	w.int("Version", dm.Version)
	w.int("ChangedInCardVersion", dm.ChangedInCardVersion)
	w.text("Status", dm.Status)
	dm.Drug.appendXML(w)
	w.open("Dosage")
	w.text("Text", dm.Dosage.Text)
	w.close("Dosage")
	dm.Indication.appendXML(w)
	w.text("BeginDate", dm.BeginDate)
	w.textOmit("EndDate", dm.EndDate)
	dm.Created.appendXML(w, "Created")
	dm.Modified.appendXML(w, "Modified")
	if c := dm.Conflict; c != nil {
		w.open("Conflict")
		w.text("Rule", c.Rule)
		w.time("Time", c.Time)
		for i := range c.Variant {
			v := &c.Variant[i]
			w.open("Variant")
			w.text("Status", v.Status)
			w.open("Dosage")
			w.text("Text", v.Dosage.Text)
			w.close("Dosage")
			v.Indication.appendXML(w)
			w.textOmit("EndDate", v.EndDate)
			w.close("Variant")
		}
		w.close("Conflict")
	}
}

func (p *xmlPrescription) appendXML(w *xmlWriter) {
	w.int("Identifier", p.Identifier)
	w.int("Version", p.Version)
	w.int("ChangedInCardVersion", p.ChangedInCardVersion)
	w.intOmit("DrugMedicationIdentifier", p.DrugMedicationIdentifier)
	w.text("Status", p.Status)
	p.Drug.appendXML(w)
	w.text("PackageNumber", p.PackageNumber)
	w.int("PackageQuantity", int64(p.PackageQuantity))
	w.int("Iterations", int64(p.Iterations))
	w.int("IterationIntervalDays", int64(p.IterationIntervalDays))
	w.text("ValidFrom", p.ValidFrom)
	w.text("ValidTo", p.ValidTo)
	w.text("DosageText", p.DosageText)
	p.Created.appendXML(w, "Created")
	p.Modified.appendXML(w, "Modified")
	w.int("Dispensings", int64(p.Dispensings))
	w.int("PackagesDispensed", int64(p.PackagesDispensed))
	if p.LastDispensed != nil {
		w.time("LastDispensed", *p.LastDispensed)
	}
}

func (o *xmlOrder) appendXML(w *xmlWriter) {
	w.int("Identifier", o.Identifier)
	w.int("Version", o.Version)
	w.int("ChangedInCardVersion", o.ChangedInCardVersion)
	w.int("PrescriptionIdentifier", o.PrescriptionIdentifier)
	w.text("Pharmacy", o.Pharmacy)
	w.text("Status", o.Status)
	o.Created.appendXML(w, "Created")
	o.Modified.appendXML(w, "Modified")
}

func (e *xmlEffectuation) appendXML(w *xmlWriter) {
	w.int("Identifier", e.Identifier)
	w.int("Version", e.Version)
	w.int("ChangedInCardVersion", e.ChangedInCardVersion)
	w.int("PrescriptionIdentifier", e.PrescriptionIdentifier)
	w.int("OrderIdentifier", e.OrderIdentifier)
	w.int("PackagesDispensed", int64(e.PackagesDispensed))
	w.text("Pharmacy", e.Pharmacy)
	w.bool("Terminated", e.Terminated)
	w.bool("Undone", e.Undone)
	e.Created.appendXML(w, "Created")
	e.Modified.appendXML(w, "Modified")
}

func (d *xmlDrug) appendXML(w *xmlWriter) {
	w.open("Drug")
	w.text("Identifier", d.Identifier)
	w.text("Name", d.Name)
	w.textOmit("Form", d.Form)
	w.textOmit("Strength", d.Strength)
	w.textOmit("ATCCode", d.ATCCode)
	w.close("Drug")
}

func (i *xmlIndication) appendXML(w *xmlWriter) {
	w.open("Indication")
	w.textOmit("Code", i.Code)
	w.text("Text", i.Text)
	w.close("Indication")
}

// appendXML writes the stamp in an element called name.
func (s *xmlStamp) appendXML(w *xmlWriter, name string) {
	w.open(name)
	w.textOmit("AuthorisationIdentifier", s.AuthorisationIdentifier)
	w.text("Role", s.Role)
	w.text("Organisation", s.Organisation)
	w.text("System", s.System)
	w.time("Time", s.Time)
	w.close(name)
}
