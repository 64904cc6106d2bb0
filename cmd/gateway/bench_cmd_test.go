package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/loadgen"
)

// TestBenchCommand runs `gateway bench` against the in-process gateway
// over the real databases: every action of the mix must succeed, in both
// SOAP versions and with both password types, and the files must be
// written. The PasswordText run goes to a gateway told that TLS ends in
// front of it (the plain one refuses PasswordText).
func TestBenchCommand(t *testing.T) {
	e := requireEnv(t)
	behindTLSProxy := startGateway(t, func(endpoint string) app.Config {
		cfg := e.config(endpoint, e.cluster.Redis.Addr)
		cfg.TLSTerminatedUpstream = true
		return cfg
	})
	for _, tc := range []struct {
		name     string
		endpoint string
		extra    []string
	}{
		{"soap11-digest", e.endpoint, nil},
		{"soap12-text-zipf", behindTLSProxy.endpoint, []string{"--soap", "1.2", "--password-text", "--zipf", "1.1"}},
		{"open-loop-whole-card", e.endpoint, []string{"--rate", "150", "--include-prescriptions"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{
				"--url", tc.endpoint, "--duration", "1500ms", "--warmup", "200ms", "--concurrency", "4",
				"--persons", fmt.Sprint(benchPersons), "--seed", fmt.Sprint(demoSeed), "--quiet",
				"--mix", "GetMedicineCard=40,GetPrescription=10,CreateDrugMedication=15,PauseDrugMedication=15,CreatePharmacyEffectuation=20",
				"--pharmacy-org", "SOR:bench-test-pharmacy", "--out", out, "--name", tc.name,
				"--gateway-pid", fmt.Sprint(os.Getpid()),
			}, tc.extra...)
			cfg, opts, err := parseBenchFlags(args)
			if err != nil {
				t.Fatalf("parseBenchFlags: %v", err)
			}
			var stdout, stderr bytes.Buffer
			if err := bench(context.Background(), cfg, opts, &stdout, &stderr); err != nil {
				t.Fatalf("bench: %v\n%s", err, stdout.String())
			}
			t.Logf("\n%s", stdout.String())

			files, _ := filepath.Glob(filepath.Join(out, "*", "bench.json"))
			if len(files) != 1 {
				t.Fatalf("bench.json files: %v, want one", files)
			}
			f, err := os.Open(files[0])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := loadgen.ReadReport(f)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Total.Errors != 0 {
				t.Errorf("errors against the real gateway: %v", rep.Total.ErrorsByFault)
			}
			if want := slices.Contains(tc.extra, "--include-prescriptions"); rep.Config.IncludePrescriptions != want {
				t.Errorf("the report's IncludePrescriptions = %v, want %v", rep.Config.IncludePrescriptions, want)
			}
			seen := map[string]bool{}
			for _, s := range rep.Ops {
				seen[s.Op] = s.Count > 0
			}
			for _, op := range []string{"GetMedicineCard", "GetPrescription", "CreateDrugMedication", "PauseDrugMedication",
				"CreatePrescription", "CreateOrder", "StartEffectuation", "CreatePharmacyEffectuation"} {
				if !seen[op] {
					t.Errorf("no %s request was measured", op)
				}
			}
			if rep.GatewayCPU == nil || rep.GatewayCPU.Error != "" {
				t.Errorf("GatewayCPU = %+v, want the test process's CPU", rep.GatewayCPU)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(files[0]), "bench.svg")); err != nil {
				t.Error(err)
			}
			if !strings.Contains(stdout.String(), "p99 ms") {
				t.Errorf("no table on stdout:\n%s", stdout.String())
			}
		})
	}
}

func TestBenchRefusesRemoteURL(t *testing.T) {
	_, _, err := parseBenchFlags([]string{"--url", "http://medcard.example.org/medcard"})
	if err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Errorf("parseBenchFlags(remote URL) = %v, want a refusal naming --allow-remote", err)
	}
	if _, _, err := parseBenchFlags([]string{"--soap", "1.3"}); err == nil {
		t.Error("parseBenchFlags(--soap 1.3): no error")
	}
}
