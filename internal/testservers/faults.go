package testservers

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// This file holds the faults the robustness suite injects into the servers
// it started: a crash and restart of PostgreSQL on the same port, and a
// kill -9, pause and empty restart of Redis on the same address. Every
// restart re-arms the server's watchdog, so a test binary that dies after
// a fault still leaves nothing behind.

// Crash stops the server the way a power cut would (pg_ctl stop -m
// immediate: no checkpoint, crash recovery on the next start). The data
// directory and the watchdog stay; Restart brings it back on the same port.
func (p *Postgres) Crash() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("testservers: crash of a stopped server")
	}
	if out, err := p.command("pg_ctl", "stop", "-D", p.dataDir(), "-m", "immediate", "-w").CombinedOutput(); err != nil {
		return fmt.Errorf("testservers: pg_ctl stop -m immediate: %v\n%s", err, out)
	}
	return nil
}

// Restart starts a crashed server again on its port and waits until it
// accepts connections (crash recovery done).
func (p *Postgres) Restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("testservers: restart of a stopped server")
	}
	return p.start(p.Port)
}

// LogFile is the path of the server's log (postgres.log).
func (p *Postgres) LogFile() string { return p.logFile() }

// LogFile is the path of the server's log (redis.log).
func (r *Redis) LogFile() string { return filepath.Join(r.Dir, "redis.log") }

// Kill sends SIGKILL to the server and waits for it to exit; its dir stays
// so that RestartEmpty can bring it back at the same address.
func (r *Redis) Kill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errors.New("testservers: kill of a stopped redis")
	}
	r.kill()
	return nil
}

// RestartEmpty starts a killed server again on the same address, empty
// (nothing is persisted), and waits until it answers PING.
func (r *Redis) RestartEmpty() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errors.New("testservers: restart of a stopped redis")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("testservers: redis-server not found: %w", err)
	}
	_, portText, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	return r.start(bin, port)
}

// Pause stops the server's process (SIGSTOP): it holds its connections but
// answers nothing until Resume.
func (r *Redis) Pause() error { return r.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() error { return r.signal(syscall.SIGCONT) }

// Pid is the server's process id, 0 when it is not running.
func (r *Redis) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

func (r *Redis) signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.cmd == nil || r.cmd.Process == nil {
		return errors.New("testservers: signal to a redis that is not running")
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("testservers: %v to redis: %w", sig, err)
	}
	return nil
}

// LogFile is the path of the sentinel's log (sentinel.log).
func (s *Sentinel) LogFile() string { return filepath.Join(s.Dir, "sentinel.log") }
