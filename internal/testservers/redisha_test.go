package testservers

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestRedisRestartOnPort stops a Redis and starts a new one at its address.
func TestRedisRestartOnPort(t *testing.T) {
	r, err := StartRedis()
	RequireT(t, err)
	t.Cleanup(func() { r.Stop() })
	_, port, _ := net.SplitHostPort(r.Addr)
	p, _ := strconv.Atoi(port)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if pingRedis(r.Addr) == nil {
		t.Fatalf("%s still answers after Stop", r.Addr)
	}
	r2, err := StartRedisOnPort(p)
	if err != nil {
		t.Fatalf("StartRedisOnPort(%d) = %v", p, err)
	}
	t.Cleanup(func() { r2.Stop() })
	if r2.Addr != r.Addr || pingRedis(r2.Addr) != nil {
		t.Errorf("restarted Redis at %s does not answer at %s", r2.Addr, r.Addr)
	}
	if _, err := StartRedisOnPort(p); err == nil {
		t.Errorf("StartRedisOnPort(%d) succeeded on a taken port", p)
	}
}

// TestReplicaAndSentinel starts a primary, a replica and a Sentinel and
// checks what each reports, without a failover.
func TestReplicaAndSentinel(t *testing.T) {
	primary, err := StartRedis()
	RequireT(t, err)
	t.Cleanup(func() { primary.Stop() })
	replica, err := StartRedisReplica(primary)
	RequireT(t, err)
	t.Cleanup(func() { replica.Stop() })
	if _, err := redisCommand(primary.Addr, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(5*time.Second, func() error {
		if got, err := redisCommand(replica.Addr, "GET", "k"); err != nil || got != "v" {
			return fmt.Errorf("replica GET k = %v, %v; want v", got, err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		RequireT(t, err)
	}
	s, err := StartSentinel("tm", primary, time.Second, 5*time.Second)
	RequireT(t, err)
	t.Cleanup(func() { s.Stop() })
	if addr, err := s.MasterAddr(); err != nil || addr != primary.Addr {
		t.Errorf("MasterAddr() = %q, %v; want %s", addr, err, primary.Addr)
	}
	if err := s.WaitReplicas(1, 15*time.Second); err != nil {
		t.Error(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
