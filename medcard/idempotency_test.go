package medcard

import (
	"encoding/hex"
	"testing"
)

// TestRequestHashIsCanonical: the hash is of a written-down form, held by a
// golden vector, and a field added later at its zero value changes nothing.
func TestRequestHashIsCanonical(t *testing.T) {
	req := validRequest(testPerson)
	hash := func(r any) string {
		t.Helper()
		h, err := requestHash(OpCreateDrugMedication, PersonID(testPerson), r)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(h)
	}
	body, err := canonicalRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	const wantBody = `{"BeginDate":"2026-03-01","Dosage":{"text":"2 tabletter 3 gange daglig"},"Drug":{"atc":"N02BE01","form":"filmovertrukne tabletter","identifier":"28100636892","name":"Panodil","strength":"500 mg"},"EndDate":"2026-06-30","Indication":{"code":"4","text":"mod smerter"},"PersonID":"0101801234"}`
	if string(body) != wantBody {
		t.Errorf("canonicalRequest = %s\nwant %s", body, wantBody)
	}
	// sha256("medcard-request-v1\x00CreateDrugMedication\x000101801234\x00" + wantBody)
	const golden = "87a2f70dddb5d4464e49bf07e38d55715978639d433442cecfb7c5d58b0b9c04"
	if got := hash(req); got != golden {
		t.Errorf("requestHash(golden request) = %s, want %s", got, golden)
	}
	type laterVersion struct {
		CreateDrugMedicationRequest
		Priority string
		Urgent   bool
	}
	if got := hash(laterVersion{CreateDrugMedicationRequest: req}); got != golden {
		t.Errorf("requestHash with new zero-valued fields = %s, want %s", got, golden)
	}
	if got := hash(laterVersion{CreateDrugMedicationRequest: req, Urgent: true}); got == golden {
		t.Error("requestHash ignores a new field that is set")
	}
}

// TestRequestHashOfOperationsSharingARequestType: a request type serving
// several operations hashes as it did before it carried the operation, so
// that a resend spanning the deploy matches the outcome an older binary
// stored. The vectors were computed as the golden one above, and match
// what the binary before CardReviewRequest.Op and OrderActionRequest.Op
// stored; DrugMedicationChange.Op was always hashed as a member.
func TestRequestHashOfOperationsSharingARequestType(t *testing.T) {
	tests := []struct {
		req      ChangeRequest
		wantBody string
		golden   string
	}{
		{CardReviewRequest{Op: OpSetMedicineCardReviewed, PersonID: testPerson, BasedOnCardVersion: 3},
			`{"BasedOnCardVersion":3,"PersonID":"0101801234"}`, "21f35d2d5b73c35c6ddf4187d9bcd5d3e3532d12c0712e3660a94a8fad0b23e4"},
		{CardReviewRequest{Op: OpSetMedicineCardNotReviewed, PersonID: testPerson, BasedOnCardVersion: 3},
			`{"BasedOnCardVersion":3,"PersonID":"0101801234"}`, "cbf1d6f8c4f7af9c271e875b490bf0a21ceee920a0481c6ec4eec4ac7c136b45"},
		{OrderActionRequest{Op: OpStartEffectuation, PersonID: testPerson, BasedOnCardVersion: 5, OrderID: 7},
			`{"BasedOnCardVersion":5,"OrderID":7,"PersonID":"0101801234"}`, "0701d9e8430c7eccfd24365c5c86a63094ba90bc620a88651c888651bb653fea"},
		{DrugMedicationRequest{PersonID: testPerson, BasedOnCardVersion: 2, Change: DrugMedicationChange{Op: OpPauseDrugMedication, DrugMedicationID: 1}},
			`{"BasedOnCardVersion":2,"Change":{"DrugMedicationID":1,"Op":"PauseDrugMedication"},"PersonID":"0101801234"}`,
			"b483fb79459f790b1f853d5a83dfa15ce34b6d0471dce93d5d9d2f5bc662cf02"},
	}
	for _, tt := range tests {
		body, err := canonicalRequest(tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != tt.wantBody {
			t.Errorf("canonicalRequest(%+v) = %s, want %s", tt.req, body, tt.wantBody)
		}
		h, err := requestHash(tt.req.Operation(), PersonID(testPerson), tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h); got != tt.golden {
			t.Errorf("requestHash(%+v) = %s, want %s", tt.req, got, tt.golden)
		}
	}
}
