package shard

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// TestSystemClientCerts: a system's certificate fingerprints are set,
// added to and cleared with SetClientCerts, kept when PutSystem replaces
// its secret (re-running seed must not undo them), reach System, and the
// catalog refuses one that is not 64 lowercase hex digits.
func TestSystemClientCerts(t *testing.T) {
	_, pool := startCatalog(t)
	ctx := t.Context()
	clock := time.Now()
	c := NewCatalog(pool, func() time.Time { return clock })
	pinA, pinB := strings.Repeat("a", 64), strings.Repeat("b", 64)

	lab := medcard.System{Name: "lab", Secret: "one", Roles: []medcard.Role{medcard.RoleDoctor}, ClientCertSHA256: []string{pinB}}
	if err := c.PutSystem(ctx, lab); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() ([]string, error)
		want []string
	}{
		{"created with a pin", func() ([]string, error) { return nil, nil }, []string{pinB}},
		{"secret replaced", func() ([]string, error) {
			return nil, c.PutSystem(ctx, medcard.System{Name: "lab", Secret: "two", Roles: lab.Roles})
		}, []string{pinB}},
		{"replaced", func() ([]string, error) { return c.SetClientCerts(ctx, "lab", []string{pinA}, false) }, []string{pinA}},
		{"added", func() ([]string, error) { return c.SetClientCerts(ctx, "lab", []string{pinB, pinA}, true) }, []string{pinA, pinB}},
		{"cleared", func() ([]string, error) { return c.SetClientCerts(ctx, "lab", nil, false) }, []string{}},
	}
	for _, s := range steps {
		set, err := s.do()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if set != nil && !slices.Equal(set, s.want) {
			t.Errorf("%s: SetClientCerts = %v, want %v", s.name, set, s.want)
		}
		clock = clock.Add(systemCacheTTL)
		got, err := c.System(ctx, "lab")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.ClientCertSHA256, s.want) || got.RequiresClientCert() != (len(s.want) > 0) {
			t.Errorf("%s: System pins %v, want %v", s.name, got.ClientCertSHA256, s.want)
		}
	}
	if _, err := c.SetClientCerts(ctx, "nobody", []string{pinA}, false); !errors.Is(err, ErrNoSuchSystem) {
		t.Errorf("SetClientCerts(unknown system) = %v, want ErrNoSuchSystem", err)
	}
	for _, bad := range [][]string{{"abc"}, {strings.Repeat("A", 64)}, {""}, {pinA, ""}} {
		if _, err := c.SetClientCerts(ctx, "lab", bad, false); err == nil {
			t.Errorf("SetClientCerts(%q) succeeded, want the catalog's check to refuse it", bad)
		}
	}
	listed, err := c.Systems(ctx)
	if err != nil || len(listed) != 1 || listed[0].Name != "lab" || !listed[0].Enabled {
		t.Errorf("Systems = %+v, %v; want lab, enabled", listed, err)
	}
}
