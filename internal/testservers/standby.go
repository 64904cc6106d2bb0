package testservers

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StartStandby starts a streaming standby of primary: a base backup
// (pg_basebackup -R, so it follows the primary from its first WAL record,
// through a physical replication slot named name)
// started on a free loopback port, connecting as application_name name,
// which is what the primary's synchronous_standby_names lists. It returns
// once the primary sees it streaming.
//
// The standby is a *Postgres like any other: StopImmediate and Start stop
// and bring it back (it catches up by itself), Stop removes it, Promote
// makes it a primary.
func StartStandby(primary *Postgres, name string) (*Postgres, error) {
	if primary == nil {
		return nil, fmt.Errorf("testservers: a standby needs a primary")
	}
	s, err := startPostgres(func(p *Postgres) error { return p.baseBackup(primary, name) })
	if err != nil {
		return nil, err
	}
	if err := primary.WaitStreaming(name, 30*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// baseBackup fills p's data dir from primary, set up as its standby under
// application_name name.
func (p *Postgres) baseBackup(primary *Postgres, name string) error {
	out, err := p.command("pg_basebackup", "-h", primary.Host, "-p", strconv.Itoa(primary.Port), "-U", "postgres",
		"-D", p.dataDir(), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
		// A slot of its own keeps the WAL it has not yet received: during
		// the copy (another base backup's checkpoint would recycle it) and
		// while the standby is stopped.
		"--create-slot", "--slot="+name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testservers: pg_basebackup of port %d: %v\n%s", primary.Port, err, out)
	}
	// -R wrote standby.signal and a primary_conninfo; the later line wins,
	// naming the standby for synchronous_standby_names.
	conninfo := fmt.Sprintf("\nprimary_conninfo = 'host=%s port=%d user=postgres application_name=%s'\n", primary.Host, primary.Port, name)
	f, err := os.OpenFile(filepath.Join(p.dataDir(), "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(conninfo); err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	return nil
}

// WaitStreaming waits until the standby named name streams from p.
func (p *Postgres) WaitStreaming(name string, within time.Duration) error {
	return waitFor(within, func() error {
		out, err := p.psql("postgres", fmt.Sprintf("SELECT state FROM pg_stat_replication WHERE application_name = '%s'", name))
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if strings.TrimSpace(out) != "streaming" {
			return fmt.Errorf("testservers: standby %s is %q on port %d, not streaming", name, strings.TrimSpace(out), p.Port)
		}
		return nil
	})
}

// SetSynchronousStandbys sets the server's synchronous_standby_names (for
// example "ANY 1 (s1, s2)"; empty: none) and reloads its configuration.
func (p *Postgres) SetSynchronousStandbys(names string) error {
	if out, err := p.psql("postgres", "ALTER SYSTEM SET synchronous_standby_names = '"+strings.ReplaceAll(names, "'", "''")+"'"); err != nil {
		return fmt.Errorf("testservers: set synchronous_standby_names: %v\n%s", err, out)
	}
	if out, err := p.psql("postgres", "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("testservers: reload: %v\n%s", err, out)
	}
	// pg_reload_conf only signals: wait until the setting is in force.
	return waitFor(10*time.Second, func() error {
		out, err := p.psql("postgres", "SHOW synchronous_standby_names")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != names {
			return fmt.Errorf("testservers: synchronous_standby_names is %q, not yet %q", strings.TrimSpace(out), names)
		}
		return nil
	})
}

// Promote makes a standby a primary (pg_ctl promote) and waits until it
// takes writes.
func (p *Postgres) Promote() error {
	if out, err := p.command("pg_ctl", "promote", "-w", "-D", p.dataDir()).CombinedOutput(); err != nil {
		return fmt.Errorf("testservers: pg_ctl promote: %v\n%s", err, out)
	}
	return waitFor(30*time.Second, func() error {
		out, err := p.psql("postgres", "SELECT pg_is_in_recovery()")
		if err != nil || strings.TrimSpace(out) != "f" {
			return fmt.Errorf("testservers: port %d still in recovery (%v %s)", p.Port, err, out)
		}
		return nil
	})
}
