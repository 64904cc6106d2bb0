package soap

import (
	"errors"
	"strings"
	"testing"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/soap/envelope"
)

// TestEveryWireErrorHasAFault: each kind of envelope.Error maps to a
// catalogue fault in fault.go, and the wire error stays the cause.
func TestEveryWireErrorHasAFault(t *testing.T) {
	n := 0
	for k := envelope.Kind(1); !strings.HasPrefix(k.String(), "Kind("); k++ {
		n++
		f, ok := wireFaults[k]
		if !ok {
			t.Errorf("envelope.%v has no fault in wireFaults", k)
			continue
		}
		err := catalogued(&envelope.Error{Kind: k, Message: "m"})
		var we *envelope.Error
		if medcard.FaultOf(err) != f || medcard.MessageOf(err) != "m" || !errors.As(err, &we) {
			t.Errorf("catalogued(%v) = %v, want %s with the message and the wire error as its cause", k, err, f.ID)
		}
	}
	if n != len(wireFaults) {
		t.Errorf("wireFaults maps %d kinds, envelope has %d", len(wireFaults), n)
	}
	if err := catalogued(&envelope.Error{Kind: 999}); medcard.FaultOf(err) != medcard.FaultInternal {
		t.Errorf("catalogued(an unknown kind) = %v, want InternalError", err)
	}
}
