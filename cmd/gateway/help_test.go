package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// TestEveryCommandAnswersHelp: scripts and operators call `--help` on every
// command; it must print and exit 0, while a bad flag still exits 1.
func TestEveryCommandAnswersHelp(t *testing.T) {
	bin := gatewayBinary(t)
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"seed", "--help"}, {"shard", "--help"},
		{"shard", "init", "--help"}, {"shard", "status", "--help"}, {"bench", "--help"},
		{"shard", "add-db", "--help"}, {"shard", "remove-db", "--help"}, {"shard", "plan", "--help"},
		{"shard", "rebalance", "--help"}, {"shard", "move", "--help"}, {"shard", "move", "7", "--help"},
		{"shard", "moves", "--help"}, {"shard", "verify", "--help"}, {"shard", "cancel", "--help"},
		{"shard", "cleanup", "--help"},
		{"user", "--help"}, {"user", "add", "--help"}, {"user", "list", "--help"}, {"user", "disable", "--help"},
		{"user", "reset-password", "--help"},
		{"system", "--help"}, {"system", "list", "--help"}, {"system", "cert", "--help"}, {"dev-cert", "--help"},
		{"audit", "--help"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || len(out) == 0 {
			t.Errorf("gateway %v = %v with %d bytes of output, want exit 0 and a usage text", args, err, len(out))
		}
	}
	for _, args := range [][]string{
		{"serve", "--no-such-flag"}, {"shard", "no-such-subcommand"}, {"shard", "rebalance"},
		{"shard", "move", "7"}, {"shard", "rebalance", "1", "--parallel", "0"},
		{"user"}, {"user", "no-such-subcommand"}, {"user", "add"},
		{"system"}, {"system", "no-such-subcommand"}, {"system", "cert"}, {"dev-cert", "extra-argument"},
		{"audit", "--retention", "26 weeks"}, {"audit", "extra-argument"},
		// --listen-http without TLS:
		{"serve", "--catalog-dsn", "postgres://127.0.0.1:1/none", "--listen-http", "127.0.0.1:0"},
		{"shard", "rebalance", "1", "--fence-wait", "1s"}, // longer than --freeze-bound
	} {
		if err := exec.Command(bin, args...).Run(); err == nil {
			t.Errorf("gateway %v exited 0, want 1", args)
		}
	}
}

var gatewayBin struct {
	once      sync.Once
	dir, path string
	err       error
}

// gatewayBinary builds the gateway once per test binary and returns its
// path; TestMain removes it.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	b := &gatewayBin
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "gateway-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "gateway")
		if out, err := exec.Command("go", "build", "-o", b.path, ".").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func removeGatewayBinary() {
	if gatewayBin.dir != "" {
		os.RemoveAll(gatewayBin.dir)
	}
}
