package medcard

import (
	"fmt"

	json "github.com/goccy/go-json"
)

// EncodeCard returns the stored form of card: the JSON the shard databases
// keep as json (so an operator can read a card with psql) and the cache
// keeps as the entry's body. It is the one place that chooses the codec.
//
// The codec is goccy/go-json, a drop-in for encoding/json that produces the
// same bytes (TestCodecMatchesEncodingJSON in package seed checks that over
// generated cards) and decodes a 7.5 KB card about five times faster; the
// decode was a fifth of a cached read's CPU with encoding/json.
func EncodeCard(card *Card) ([]byte, error) {
	body, err := json.Marshal(card)
	if err != nil {
		return nil, fmt.Errorf("encode card: %w", err)
	}
	return body, nil
}

// DecodeCard fills card from its stored form. The person and, where the
// store keeps it beside the body, the version are set by the caller.
func DecodeCard(body []byte, card *Card) error {
	if err := json.Unmarshal(body, card); err != nil {
		return fmt.Errorf("decode card: %w", err)
	}
	return nil
}
