package testservers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StartRedisOnPort starts redis-server like StartRedis, but on the given
// loopback port: to bring a stopped Redis back at the address its clients
// still use. It fails (without retrying elsewhere) when the port is taken.
func StartRedisOnPort(port int) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("testservers: redis-server not found (apt-get install redis-server): %w", err)
	}
	dir, err := os.MkdirTemp(os.TempDir(), "testservers-redis-")
	if err != nil {
		return nil, fmt.Errorf("testservers: %w", err)
	}
	r := &Redis{Addr: net.JoinHostPort(loopback, strconv.Itoa(port)), process: process{Dir: dir}}
	if err := r.start(bin, port); err != nil {
		r.kill()
		os.RemoveAll(dir)
		return nil, err
	}
	return r, nil
}

// StartRedisReplica starts redis-server (no persistence) on a free loopback
// port as a replica of primary, and waits until its replication link is up,
// i.e. it holds a full copy of the primary's data. It sets the primary's
// repl-diskless-sync-delay to 0 so that the first sync starts at once.
func StartRedisReplica(primary *Redis) (*Redis, error) {
	host, port, err := net.SplitHostPort(primary.Addr)
	if err != nil {
		return nil, fmt.Errorf("testservers: primary address: %w", err)
	}
	// The primary would wait 5s for more replicas before it starts a
	// diskless full sync.
	if _, err := redisCommand(primary.Addr, "CONFIG", "SET", "repl-diskless-sync-delay", "0"); err != nil {
		return nil, fmt.Errorf("testservers: primary: %w", err)
	}
	return startRedisOnFreePort("testservers-redis-replica-", []string{"--replicaof", host, port}, func(r *Redis) error {
		return waitFor(10*time.Second, func() error { return replicaLinkUp(r.Addr) })
	})
}

func replicaLinkUp(addr string) error {
	reply, err := redisCommand(addr, "INFO", "replication")
	if err != nil {
		return err
	}
	info, _ := reply.(string)
	if !strings.Contains(info, "master_link_status:up") {
		return errors.New("testservers: replica has no replication link up yet")
	}
	return nil
}

// Sentinel is a throwaway redis-sentinel monitoring one primary under the
// name Master, with a quorum of 1 (it alone decides a failover).
type Sentinel struct {
	Addr   string // 127.0.0.1:PORT, where clients ask for the primary
	Dir    string
	Master string

	proc *Redis // the sentinel process
}

// StartSentinel starts redis-sentinel (Debian package redis-sentinel) on a
// free loopback port, monitoring primary as master: it considers the
// primary down after downAfter without an answer, and then promotes one of
// its replicas; failoverTimeout bounds one failover attempt.
func StartSentinel(master string, primary *Redis, downAfter, failoverTimeout time.Duration) (*Sentinel, error) {
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		return nil, fmt.Errorf("testservers: redis-sentinel not found (apt-get install redis-sentinel): %w", err)
	}
	host, port, err := net.SplitHostPort(primary.Addr)
	if err != nil {
		return nil, fmt.Errorf("testservers: primary address: %w", err)
	}
	dir, err := os.MkdirTemp(os.TempDir(), "testservers-sentinel-")
	if err != nil {
		return nil, fmt.Errorf("testservers: %w", err)
	}
	conf := filepath.Join(dir, "sentinel.conf")
	logFile := filepath.Join(dir, "sentinel.log")
	var lastErr error
	for try := 0; try < startRetries; try++ {
		p, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		// Sentinel rewrites its configuration file, so it lives in dir.
		text := fmt.Sprintf("port %d\nbind %s\ndaemonize no\ndir %s\nlogfile %s\n"+
			"sentinel monitor %s %s %s 1\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s %d\n",
			p, loopback, dir, logFile, master, host, port,
			master, downAfter.Milliseconds(), master, failoverTimeout.Milliseconds())
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("testservers: %w", err)
		}
		r := &Redis{Addr: net.JoinHostPort(loopback, strconv.Itoa(p)), process: process{Dir: dir}}
		if lastErr = r.run(bin, []string{conf}, p, logFile); lastErr == nil {
			return &Sentinel{Addr: r.Addr, Dir: dir, Master: master, proc: r}, nil
		}
		r.kill()
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// MasterAddr returns the address the sentinel currently gives for the
// primary (SENTINEL get-master-addr-by-name).
func (s *Sentinel) MasterAddr() (string, error) {
	reply, err := redisCommand(s.Addr, "SENTINEL", "get-master-addr-by-name", s.Master)
	if err != nil {
		return "", err
	}
	hostPort, ok := reply.([]any)
	if !ok || len(hostPort) != 2 {
		return "", fmt.Errorf("testservers: sentinel knows no master %q (%v)", s.Master, reply)
	}
	host, _ := hostPort[0].(string)
	port, _ := hostPort[1].(string)
	return net.JoinHostPort(host, port), nil
}

// WaitReplicas waits up to within until the sentinel knows n replicas of
// the primary that are up and linked to it, so that it could promote one.
func (s *Sentinel) WaitReplicas(n int, within time.Duration) error {
	return waitFor(within, func() error {
		reply, err := redisCommand(s.Addr, "SENTINEL", "replicas", s.Master)
		if err != nil {
			return err
		}
		replicas, _ := reply.([]any)
		good := 0
		for _, r := range replicas {
			fields, _ := r.([]any)
			kv := map[string]string{}
			for i := 0; i+1 < len(fields); i += 2 {
				k, _ := fields[i].(string)
				v, _ := fields[i+1].(string)
				kv[k] = v
			}
			if kv["flags"] == "slave" && kv["master-link-status"] == "ok" {
				good++
			}
		}
		if good < n {
			return fmt.Errorf("testservers: sentinel knows %d good replicas, want %d", good, n)
		}
		return nil
	})
}

// Stop kills the sentinel and removes its dir; nil-safe and idempotent.
func (s *Sentinel) Stop() error {
	if s == nil {
		return nil
	}
	return s.proc.Stop()
}

// answers checks that the Redis (or Sentinel) answering at addr is process
// pid, not another server that holds the port.
func answers(addr string, pid int) error {
	reply, err := redisCommand(addr, "INFO", "server")
	if err != nil {
		return err
	}
	info, _ := reply.(string)
	if !strings.Contains(info, "\r\nprocess_id:"+strconv.Itoa(pid)+"\r\n") {
		return fmt.Errorf("testservers: %s is answered by another process", addr)
	}
	return nil
}

// waitFor calls check every 20 ms until it succeeds or within has passed,
// and then returns its last error.
func waitFor(within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisCommand sends one command in RESP and returns its reply: a string
// (simple or bulk), an int64, nil, or []any for an array; an error reply is
// returned as an error.
func redisCommand(addr string, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(c))
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("testservers: empty RESP line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, errors.New("testservers: redis: " + body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("testservers: unexpected RESP reply %q", line)
}
