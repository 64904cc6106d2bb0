package testservers

import (
	"errors"
	"fmt"
	"strings"
)

// errStopped is what StopImmediate and Start return after Stop.
var errStopped = errors.New("testservers: the server was stopped for good (Stop)")

// StopImmediate stops the server the way a crash would (pg_ctl stop -m
// immediate): no shutdown checkpoint, so the next Start runs crash
// recovery. The data dir and the watchdog stay; Start brings the server
// back, and Stop still removes everything.
func (p *Postgres) StopImmediate() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errStopped
	}
	out, err := p.command("pg_ctl", "stop", "-D", p.dataDir(), "-m", "immediate", "-w").CombinedOutput()
	if err != nil {
		return fmt.Errorf("testservers: pg_ctl stop -m immediate: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Start starts the server again on the same port and data dir after
// StopImmediate. It does not wait for the server to accept connections
// (pg_ctl start without -w): it returns while the server is still starting
// up or recovering, which is the window tests of a restart want to hit.
// Callers wait by retrying their own work; the port may in rare cases have
// been taken meanwhile, which they see as connections that keep failing.
func (p *Postgres) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errStopped
	}
	out, err := p.command("pg_ctl", "start", "-D", p.dataDir(), "-l", p.logFile(), "-o", p.serverOptions(p.Port)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testservers: pg_ctl start on port %d failed: %v\n%s\nserver log tail:\n%s",
			p.Port, err, strings.TrimSpace(string(out)), Tail(p.logFile(), 20))
	}
	return nil
}

// DataDir returns the server's data directory, for tests that put a
// standby.signal or a configuration file there between StopImmediate and
// Start.
func (p *Postgres) DataDir() string { return p.dataDir() }

// LogTail returns the last n lines of the server log, for failure messages.
func (p *Postgres) LogTail(n int) string { return Tail(p.logFile(), n) }
