package medcard

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
)

// requestHash identifies the content of a request, so that a resend can be
// told from a different request reusing a MessageID. It hashes a canonical
// form (canonicalRequest) rather than the Go struct's encoding, so that a
// field added to a request type in a later version does not change the hash
// of a resend that spans the deploy: an old client's request has the new
// field at its zero value, and zero values are left out. The form is
// versioned by its prefix and held by a golden vector in the tests.
//
// The operation is hashed on its own, beside the form. A request type that
// carries its operation in a field of its own (CardReviewRequest.Op,
// OrderActionRequest.Op) tags it `json:"-"`, so that the form, and the
// hash of a resend stored before the type carried it, stay as they were.
// DrugMedicationChange.Op was always a member of the form and stays one.
func requestHash(op Operation, person PersonID, request any) ([]byte, error) {
	body, err := canonicalRequest(request)
	if err != nil {
		return nil, WrapError(FaultInternal, err, "hash request")
	}
	h := sha256.New()
	h.Write([]byte("medcard-request-v1"))
	h.Write([]byte{0})
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write([]byte(person))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil), nil
}

// canonicalRequest is the canonical form of a request: compact UTF-8 JSON
// of its members by field name (or json tag), sorted at every level,
// numbers as written, no HTML escaping, with every member whose value is
// null, false, 0, "" or an empty array or object left out. The golden
// vector in the tests was computed independently (Python's json.dumps with
// sort_keys, compact separators, ensure_ascii=False, and hashlib.sha256).
// Field names are part of the form: they mirror the WSDL's element names,
// whose renaming breaks integrators anyway.
func canonicalRequest(request any) ([]byte, error) {
	raw, err := json.Marshal(request)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	v, _ = dropZero(v)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)              // plain UTF-8, as any other language writes it
	if err := enc.Encode(v); err != nil { // maps encode with sorted keys
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// dropZero removes zero-valued members from a decoded JSON value and
// reports whether what is left is itself zero.
func dropZero(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case bool:
		return x, !x
	case string:
		return x, x == ""
	case json.Number:
		f, err := x.Float64()
		return x, err == nil && f == 0
	case []any:
		for i, e := range x {
			x[i], _ = dropZero(e) // an element keeps its place even if zero
		}
		return x, len(x) == 0
	case map[string]any:
		for k, e := range x {
			var zero bool
			if x[k], zero = dropZero(e); zero {
				delete(x, k)
			}
		}
		return x, len(x) == 0
	}
	return v, false
}
