package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestEveryCommandAnswersHelp: scripts and operators call `--help` on every
// command; it must print and exit 0, while a bad flag still exits 1.
func TestEveryCommandAnswersHelp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"seed", "--help"}, {"shard", "--help"},
		{"shard", "init", "--help"}, {"shard", "status", "--help"}, {"bench", "--help"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || len(out) == 0 {
			t.Errorf("gateway %v = %v with %d bytes of output, want exit 0 and a usage text", args, err, len(out))
		}
	}
	if err := exec.Command(bin, "serve", "--no-such-flag").Run(); err == nil {
		t.Error("gateway serve --no-such-flag exited 0, want 1")
	}
}
