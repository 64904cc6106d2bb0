package loadgen

import (
	"bytes"
	"io"
	"strconv"
	"strings"

	"github.com/tdewolff/parse/v2"
	xmllex "github.com/tdewolff/parse/v2/xml"

	"github.com/sharedmedcard/gateway/internal/soapclient"
)

// answer is what the generator reads from a successful response: the card
// version and the items it needs to carry on.
type answer struct {
	cardVersion int64
	// items are the write result's items (kind and identifier).
	items []item
	// drugMedications are a card's drug medications (GetMedicineCard).
	drugMedications []drugMedication
	card            bool // the answer held a whole card
	warnings        []string
}

type item struct {
	kind string
	id   int64
}

type drugMedication struct {
	id       int64
	status   string
	conflict bool
}

// itemID returns the identifier of the first item of kind, or 0.
func (a *answer) itemID(kind string) int64 {
	for _, it := range a.items {
		if it.kind == kind {
			return it.id
		}
	}
	return 0
}

// faultKey is what the report counts a fault under: its FaultIdentifier,
// else the SOAP 1.2 subcode or the SOAP 1.1 faultcode without its prefix,
// else "Fault".
func faultKey(f *soapclient.Fault) string {
	switch {
	case f.Identifier != "":
		return f.Identifier
	case f.Version == soapclient.SOAP12 && f.Subcode != "":
		return soapclient.LocalName(f.Subcode)
	case f.Version == soapclient.SOAP11 && f.Code != "":
		return soapclient.LocalName(f.Code)
	}
	return "Fault"
}

// parseAnswer reads a success envelope (faults are the SOAP client's to
// read), keeping to the elements it needs,
// by local name (the gateway's prefixes may change). It runs on every answer
// in the load generator, which shares the machine with what it measures, so
// it uses tdewolff/parse's allocation-free XML lexer: encoding/xml's token
// reader took ~0.2 ms of CPU per card answer, about as much as the gateway
// spent producing it. Text is taken as it stands: the values read here
// (identifiers, versions, states, codes) never hold entities.
func parseAnswer(body []byte) (answer, error) {
	var p answerParser
	lx := xmllex.NewLexer(parse.NewInputBytes(body))
	for {
		tt, data := lx.Next()
		switch tt {
		case xmllex.ErrorToken:
			if err := lx.Err(); err != io.EOF {
				return p.a, err
			}
			if len(p.path) > 0 || p.inBody {
				return p.a, io.ErrUnexpectedEOF
			}
			return p.a, nil
		case xmllex.StartTagToken:
			p.start(localName(lx.Text()))
		case xmllex.StartTagCloseVoidToken: // <x/>: ends the element it opened
			p.end()
		case xmllex.EndTagToken:
			p.end()
		case xmllex.TextToken, xmllex.CDATAToken:
			if len(p.path) > 0 {
				if tt == xmllex.CDATAToken {
					data = lx.Text()
				}
				p.text = append(p.text, data...)
			}
		}
	}
}

// localName is name without its namespace prefix.
func localName(name []byte) string {
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return string(name)
}

// answerParser is parseAnswer's state: where it is below Body and the item
// being read.
type answerParser struct {
	a      answer
	inBody bool
	path   []string // local names below Body
	text   []byte
	it     item
	dm     drugMedication
}

func (p *answerParser) start(name string) {
	if !p.inBody {
		if name == "Body" {
			p.inBody = true
		}
		return
	}
	p.path = append(p.path, name)
	p.text = p.text[:0]
	path := p.path
	switch {
	case len(path) == 2 && name == "MedicineCard" && path[0] == "GetMedicineCardResponse":
		p.a.card = true
	case len(path) == 2 && name == "Item":
		p.it = item{}
	case len(path) == 3 && name == "DrugMedication" && path[1] == "MedicineCard":
		p.dm = drugMedication{}
	case len(path) == 4 && name == "Conflict" && path[2] == "DrugMedication":
		p.dm.conflict = true
	}
}

func (p *answerParser) end() {
	if !p.inBody {
		return
	}
	if len(p.path) == 0 { // the end of Body
		p.inBody = false
		return
	}
	a, path := &p.a, p.path
	name := path[len(path)-1]
	v := strings.TrimSpace(string(p.text))
	switch {
	case name == "MedicineCardVersion" && (len(path) == 2 || (len(path) == 3 && path[1] == "MedicineCard")):
		a.cardVersion, _ = strconv.ParseInt(v, 10, 64)
	case len(path) == 3 && path[1] == "Item" && name == "Type":
		p.it.kind = v
	case len(path) == 3 && path[1] == "Item" && name == "Identifier":
		p.it.id = parseInt(v)
	case len(path) == 2 && name == "Item":
		a.items = append(a.items, p.it)
	case len(path) == 3 && path[1] == "Warning" && name == "Code":
		a.warnings = append(a.warnings, v)
	case len(path) == 2 && name == "DrugMedicationIdentifier" && path[0] == "CreateDrugMedicationResponse":
		a.items = append(a.items, item{kind: "DrugMedication", id: parseInt(v)})
	case len(path) == 4 && path[2] == "DrugMedication" && name == "Identifier":
		p.dm.id = parseInt(v)
	case len(path) == 4 && path[2] == "DrugMedication" && name == "Status":
		p.dm.status = v
	case len(path) == 3 && name == "DrugMedication" && path[1] == "MedicineCard":
		a.drugMedications = append(a.drugMedications, p.dm)
	}
	p.path = path[:len(path)-1]
	p.text = p.text[:0]
}

func parseInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
