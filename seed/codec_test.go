package seed

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sharedmedcard/gateway/medcard"
)

// TestCodecMatchesEncodingJSON holds medcard's card codec to encoding/json
// over generated cards and over text that needs escaping: the same bytes out,
// the same card in. The stored cards, the cache entries and every psql query
// an operator has written depend on that form, so a faster codec may not
// change it.
func TestCodecMatchesEncodingJSON(t *testing.T) {
	cards := sampleCards(t)
	awkward := []string{`<b>&"quoted"</b>`, "line\nbreak\ttab\\", "æøå Ünïcödé ✓ 💊", "\u2028\u2029", "\x01\x1f", ""}
	for _, text := range awkward {
		for _, card := range cards {
			if card == nil || len(card.DrugMedications) == 0 {
				continue
			}
			c := *card
			c.DrugMedications = append([]medcard.DrugMedication(nil), c.DrugMedications...)
			c.DrugMedications[0].Dosage.Text = text
			c.DrugMedications[0].Drug.Name = text
			cards = append(cards, &c)
			break
		}
	}
	for i, card := range cards {
		if card == nil {
			continue
		}
		want, err := json.Marshal(card)
		if err != nil {
			t.Fatalf("json.Marshal(card %d): %v", i, err)
		}
		got, err := medcard.EncodeCard(card)
		if err != nil {
			t.Fatalf("EncodeCard(card %d): %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("EncodeCard(card %d) differs from encoding/json:\n got %s\nwant %s", i, got, want)
		}
		var fromStd, fromCodec medcard.Card
		if err := json.Unmarshal(want, &fromStd); err != nil {
			t.Fatalf("json.Unmarshal(card %d): %v", i, err)
		}
		if err := medcard.DecodeCard(want, &fromCodec); err != nil {
			t.Fatalf("DecodeCard(card %d): %v", i, err)
		}
		if !reflect.DeepEqual(fromCodec, fromStd) {
			t.Fatalf("DecodeCard(card %d) differs from encoding/json (-std +codec):\n%s", i, gocmp.Diff(fromStd, fromCodec))
		}
	}
}
