package shard

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestLateCancelRequestCancelsNothingElse forces what a busy server does
// now and then: the cancel request of a statement whose deadline passed
// reaches PostgreSQL only after that statement has ended and the
// connection's next statement has begun. A proxy in front of the server
// holds cancel requests back for 500 ms. With pgx's cancel-request handler
// alone the late request cancels the next statement on the same connection
// (SQLSTATE 57014); with CancelOnDeadline the connection is closed before
// it is used again, and the next statement runs on another one.
func TestLateCancelRequestCancelsNothingElse(t *testing.T) {
	c := needCluster(t)
	const cancelDelay = 500 * time.Millisecond
	proxy, cancels := startCancelDelayingProxy(t, c.dsn["shard1"], cancelDelay)

	cfg, err := pgxpool.ParseConfig(c.dsn["shard1"])
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(proxy)
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	cfg.MaxConns = 1 // the next statement gets the same connection unless it was closed
	CancelOnDeadline(cfg)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// The first statement outlives its deadline (30 ms) but ends, at 200
	// ms, before its cancel request arrives (at 530 ms).
	var firstPID uint32
	func() {
		conn, err := pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		firstPID = conn.Conn().PgConn().PID()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond) // after the connect
		defer cancel()
		_, _ = conn.Exec(ctx, `SELECT pg_sleep(0.2)`) // its error, if any, is the deadline's
	}()
	if cancels.Load() == 0 {
		t.Fatal("no cancel request was sent for the statement whose deadline passed")
	}

	// The next statement is under way (from ~300 ms to 1.3 s) when the
	// late cancel request arrives.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pid := conn.Conn().PgConn().PID()
	_, err = conn.Exec(ctx, `SELECT pg_sleep(1)`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "57014" {
		t.Fatalf("the next statement (backend %d; the cancelled one ran on %d) was cancelled by the earlier statement's late cancel request: %v", pid, firstPID, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if pid == firstPID {
		t.Fatalf("the connection a cancel request was sent for (backend %d) was used again", pid)
	}
}

// startCancelDelayingProxy forwards connections to the server of dsn and
// holds every cancel request back for delay before passing it on; it
// returns its own address and the count of cancel requests it has seen.
func startCancelDelayingProxy(t *testing.T, dsn string, delay time.Duration) (string, *atomic.Int32) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	upstream := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var cancels atomic.Int32
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { forwardDelayingCancels(client, upstream, delay, &cancels) })
		}
	})
	return ln.Addr().String(), &cancels
}

// cancelRequestCode is the code of a CancelRequest message, where a
// startup message has its protocol version.
const cancelRequestCode = 80877102

func forwardDelayingCancels(client net.Conn, upstream string, delay time.Duration, cancels *atomic.Int32) {
	defer client.Close()
	var head [8]byte
	if _, err := io.ReadFull(client, head[:]); err != nil {
		return
	}
	length := binary.BigEndian.Uint32(head[:4])
	if length < 8 || length > 1<<16 {
		return
	}
	rest := make([]byte, length-8)
	if _, err := io.ReadFull(client, rest); err != nil {
		return
	}
	if binary.BigEndian.Uint32(head[4:]) == cancelRequestCode {
		cancels.Add(1)
		// Whether or not the client still waits: the server forks a
		// process for it and signals the backend when it gets there.
		time.Sleep(delay)
	}
	server, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer server.Close()
	if _, err := server.Write(append(head[:], rest...)); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, server); done <- struct{}{} }()
	<-done
}
