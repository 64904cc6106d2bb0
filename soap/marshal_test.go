package soap

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/seed"
)

// encodingXML is what writeResponse wrote before marshal.go: the reference.
func encodingXML(v any) ([]byte, error) {
	var b bytes.Buffer
	err := xml.NewEncoder(&b).Encode(v)
	return b.Bytes(), err
}

// checkMarshal fails unless marshalAnswer writes a exactly as encoding/xml.
func checkMarshal(t *testing.T, what string, a xmlAppender) {
	t.Helper()
	want, wantErr := encodingXML(a)
	var got bytes.Buffer
	gotErr := marshalAnswer(&got, a)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%s: marshalAnswer error %v, encoding/xml error %v", what, gotErr, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got.Bytes(), want) {
		i := 0
		for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
			i++
		}
		from := max(0, i-80)
		t.Fatalf("%s: marshalAnswer differs from encoding/xml at byte %d:\n got  ...%s\n want ...%s", what, i,
			got.Bytes()[from:min(got.Len(), i+80)], want[from:min(len(want), i+80)])
	}
}

// cardAnswers returns every answer marshal.go writes for card: the card in
// full, each drug medication, the prescriptions, and a write's result.
func cardAnswers(card *medcard.Card) map[string]xmlAppender {
	out := map[string]xmlAppender{
		"GetMedicineCardResponse": &GetMedicineCardResponse{MedicineCard: toXMLCard(card)},
		"WriteResponse": toXMLWriteResult(medcard.OpPauseDrugMedication, &medcard.WriteResult{CardVersion: card.Version,
			Items:    []medcard.ItemVersion{{Kind: medcard.ItemDrugMedication, ID: 1, Version: card.Version}},
			Warnings: []medcard.Warning{{Code: medcard.WarningVersionMismatch, Message: "merged <&> \"'"}}}),
	}
	if len(card.DrugMedications) > 0 {
		out["GetDrugMedicationResponse"] = &GetDrugMedicationResponse{MedicineCardVersion: card.Version,
			DrugMedication: toXMLDrugMedication(card.DrugMedications[len(card.DrugMedications)-1])}
	}
	rx := &GetPrescriptionResponse{MedicineCardVersion: card.Version}
	for _, p := range card.Prescriptions {
		rx.Prescription = append(rx.Prescription, toXMLPrescription(p))
	}
	for _, o := range card.Orders {
		rx.Order = append(rx.Order, toXMLOrder(o))
	}
	for _, e := range card.Effectuations {
		rx.Effectuation = append(rx.Effectuation, toXMLEffectuation(e))
	}
	out["GetPrescriptionResponse"] = rx
	return out
}

// TestMarshalMatchesEncodingXML: the hand-written answers are byte for byte
// what encoding/xml writes, over generated cards (the seed's, as the bench
// and the demo serve them), the tests' card with a conflict, and cards
// whose every text is awkward.
func TestMarshalMatchesEncodingXML(t *testing.T) {
	gen := seed.New(7, testNow)
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		for what, a := range cardAnswers(gen.Card(i)) {
			checkMarshal(t, what, a)
		}
	}
	card, err := fakeCard("0101701234")
	if err != nil {
		t.Fatal(err)
	}
	for what, a := range cardAnswers(card) {
		checkMarshal(t, "fake card "+what, a)
	}
	// Every string field of every answer set to one awkward text.
	for _, text := range awkwardTexts {
		for what, a := range cardAnswers(card) {
			setStrings(reflect.ValueOf(a), text)
			checkMarshal(t, what+" with text "+strings.ToValidUTF8(text, "?"), a)
		}
	}
}

// TestMarshalTimesAndZeroes: times in other zones and with nanoseconds,
// a zero time, zero and negative numbers, empty optional fields and empty
// lists come out as encoding/xml writes them; a time MarshalText refuses
// fails both.
func TestMarshalTimesAndZeroes(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, at := range []time.Time{{}, testNow, testNow.In(cet), testNow.Add(123456789 * time.Nanosecond).In(cet),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)} {
		last := at
		card := xmlMedicineCard{MedicineCardVersion: -1, NeedsAttention: false,
			Reviewed:       &xmlReviewed{By: xmlStamp{Time: at}},
			DrugMedication: []xmlDrugMedication{{Identifier: -5, Created: xmlStamp{Time: at}, Conflict: &xmlConflict{Time: at}}},
			Prescription:   []xmlPrescription{{LastDispensed: &last}, {}},
			Order:          []xmlOrder{{}},
			Effectuation:   []xmlEffectuation{{Terminated: true}},
		}
		checkMarshal(t, "times at "+at.String(), &GetMedicineCardResponse{MedicineCard: card})
	}
	checkMarshal(t, "empty card", &GetMedicineCardResponse{})
	checkMarshal(t, "empty prescriptions", &GetPrescriptionResponse{})
	checkMarshal(t, "empty write", &WriteResponse{XMLName: xml.Name{Space: Namespace, Local: "CancelOrderResponse"}})

	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	checkMarshal(t, "year 10000", &GetMedicineCardResponse{MedicineCard: xmlMedicineCard{
		DrugMedication: []xmlDrugMedication{{Created: xmlStamp{Time: far}}}}})
	var b bytes.Buffer
	if err := marshalAnswer(&b, &GetPrescriptionResponse{Prescription: []xmlPrescription{{LastDispensed: &far}}}); err == nil {
		t.Error("marshalAnswer(a time in the year 10000) = nil error, want MarshalText's")
	}
}

// awkwardTexts are texts that need escaping or replacing, or look as if
// they might.
var awkwardTexts = []string{
	"", " ", `<>&"'`, "a\tb\nc\rd", "\x00\x01\x1f\x7f", "Æblegrød på ø", "\u2028\u00a0",
	"\xff", "\xc3", "a\xc3(b", "\xed\xa0\x80", "\uFFFD", "\uFFFE\uFFFF", "\U0010FFFF", "\U0001F48A pill",
	"]]>", "&amp;", "&#x9;", strings.Repeat("é<", 300),
}

// setStrings sets every string field reachable from v to s.
func setStrings(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			setStrings(v.Elem(), s)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).Type == reflect.TypeFor[xml.Name]() {
				continue
			}
			setStrings(v.Field(i), s)
		}
	case reflect.Slice:
		for i := range v.Len() {
			setStrings(v.Index(i), s)
		}
	case reflect.String:
		v.SetString(s)
	}
}

// FuzzEscapeText: appendEscaped escapes any text as encoding/xml does.
func FuzzEscapeText(f *testing.F) {
	for _, s := range awkwardTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		got := appendEscaped([]byte("prefix"), s)
		if err := xml.EscapeText(&want, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append([]byte("prefix"), want.Bytes()...)) {
			t.Errorf("appendEscaped(%q) = %q, want %q", s, got[len("prefix"):], want.Bytes())
		}
	})
}

// BenchmarkMarshalCard compares the hand-written card answer with
// encoding/xml, from the domain's card (toXMLCard included: what a cache
// of rendered answers would save), on a card of the bench's average size
// (6.9 kB of JSON) and on a large one.
//
//	go test -run '^$' -bench MarshalCard -benchmem ./soap
func BenchmarkMarshalCard(b *testing.B) {
	gen := seed.New(42, testNow)
	var average, large *medcard.Card
	best := 0
	for i := 0; i < 2000; i++ {
		card := gen.Card(i)
		body, err := medcard.EncodeCard(card)
		if err != nil {
			b.Fatal(err)
		}
		if d := abs(len(body) - 6892); average == nil || d < best {
			average, best = card, d
		}
		if large == nil && len(card.DrugMedications) >= 4 && len(card.Prescriptions) >= 3 {
			large = card
		}
	}
	for _, c := range []struct {
		name string
		card *medcard.Card
	}{{"average", average}, {"large", large}} {
		var buf bytes.Buffer
		b.Run(c.name+"/hand", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := marshalAnswer(&buf, &GetMedicineCardResponse{MedicineCard: toXMLCard(c.card)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
		b.Run(c.name+"/encoding-xml", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := xml.NewEncoder(&buf).Encode(&GetMedicineCardResponse{MedicineCard: toXMLCard(c.card)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestCardResponseRenderedOncePerView: a card carrying renditions is
// rendered once per view, and what is served from the rendition is byte for
// byte the fresh rendering; another view of the same stored card, a card
// without renditions, or one without a view, is rendered afresh.
func TestCardResponseRenderedOncePerView(t *testing.T) {
	gen := seed.New(11, testNow)
	for i := range 50 {
		stored := gen.Card(i)
		renditions := &medcard.Renditions{}
		read := func(view string, prescriptions bool) *medcard.Card {
			c := stored.Clone()
			c.Renditions, c.View = renditions, view
			if !prescriptions {
				c.Prescriptions, c.Orders = nil, nil
			}
			return c
		}
		fresh := func(c *medcard.Card) []byte {
			want, err := encodingXML(&GetMedicineCardResponse{MedicineCard: toXMLCard(c)})
			if err != nil {
				t.Fatal(err)
			}
			return want
		}
		answer := func(r *GetMedicineCardResponse) []byte {
			var b bytes.Buffer
			if err := marshalAnswer(&b, r); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}

		full := read("full", true)
		first := cardResponse(full)
		second := cardResponse(read("full", true))
		if first.rendered == nil || second.rendered == nil || &second.rendered[0] != &first.rendered[0] {
			t.Fatalf("card %d: the second read of one view was rendered again, want the first rendition", i)
		}
		want := fresh(full)
		for n, r := range []*GetMedicineCardResponse{first, second} {
			if got := answer(r); !bytes.Equal(got, want) {
				t.Fatalf("card %d, read %d: the rendition differs from the fresh rendering:\n got  %.200s\n want %.200s", i, n+1, got, want)
			}
		}

		bare := read("bare", false)
		if got, want := answer(cardResponse(bare)), fresh(bare); !bytes.Equal(got, want) {
			t.Fatalf("card %d: another view served %.200s, want its own rendering %.200s", i, got, want)
		}
		if got := answer(cardResponse(read("full", true))); !bytes.Equal(got, fresh(full)) {
			t.Fatalf("card %d: after a second view, the first is %.200s", i, got)
		}

		unnamed := read("", true)
		if r := cardResponse(unnamed); r.rendered != nil {
			t.Errorf("card %d: a card without a view was memoised", i)
		}
		fromDatabase := stored.Clone()
		fromDatabase.View = "full"
		if r := cardResponse(fromDatabase); r.rendered != nil || !bytes.Equal(answer(r), want) {
			t.Errorf("card %d: a card without renditions was not rendered afresh", i)
		}
	}
}
