package testservers

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// process is a server child process a test started (redis-server,
// redis-sentinel, etcd) in a dir of its own: the command, its exit, the
// watchdog that kills it should the test binary die first, and whether
// Stop has removed it. The server types embed it.
type process struct {
	Dir string

	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has been waited for
	watchdog *watchdog

	mu      sync.Mutex
	stopped bool
}

// kill sends SIGKILL and waits up to 10 s for the exit; the dir stays (a
// restart or a retry on another port uses it).
func (p *process) kill() {
	p.watchdog.disarm()
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		if p.exited != nil {
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
			}
		}
	}
}

// stop kills the process (these servers persist nothing, so no graceful
// shutdown is needed) and removes its dir; safe to call more than once.
func (p *process) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	p.kill()
	if err := os.RemoveAll(p.Dir); err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	return nil
}
