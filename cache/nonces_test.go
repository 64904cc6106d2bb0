package cache

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestNonceRetryKnowsItsOwnMark: a SET NX tried again finds the key set.
// That is a first use if the key holds this check's own mark (the first
// attempt was applied, its reply lost), a replay if it holds another's.
func TestNonceRetryKnowsItsOwnMark(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	if first, err := claimAgain(ctx, rdb, "nonce:t:unset", "mark-a", time.Minute); err != nil || !first {
		t.Errorf("claim of an unset nonce = %v, %v; want first use", first, err)
	}
	if first, err := claimAgain(ctx, rdb, "nonce:t:unset", "mark-a", time.Minute); err != nil || !first {
		t.Errorf("claim again with the same mark = %v, %v; want first use (the earlier attempt was ours)", first, err)
	}
	if first, err := claimAgain(ctx, rdb, "nonce:t:unset", "mark-b", time.Minute); err != nil || first {
		t.Errorf("claim with another check's mark = %v, %v; want a replay", first, err)
	}
	if ttl := rdb.PTTL(ctx, "nonce:t:unset").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("the claimed nonce's TTL = %v, want up to a minute", ttl)
	}
}

// TestNonceSurvivesALostReply: the connection breaks after Redis applied
// the SET NX and before its reply arrived (what a read timeout on the
// pipeliner's connection does to every command in flight). The check is
// tried again on a new connection and is a first use; a real replay after
// it is still refused.
func TestNonceSurvivesALostReply(t *testing.T) {
	if testRedis == nil {
		t.Skip("no Redis (CI=true makes this a failure)")
	}
	proxy := startReplyLosingProxy(t, testRedis.Addr)
	// As the gateway configures it (MaxRetries -1: go-redis itself does not
	// retry); RESP2 and no CLIENT SETINFO, so that the connection's first
	// command is the SET NX.
	rdb := redis.NewClient(&redis.Options{Addr: proxy, MaxRetries: -1, Protocol: 2, DisableIdentity: true,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	n := NewNonces(rdb, NoncesOptions{Timeout: time.Second})
	ctx := context.Background()
	first, err := n.FirstUse(ctx, "sys", "lost-reply", time.Minute)
	if err != nil || !first {
		t.Fatalf("first use whose SET NX reply was lost = %v, %v; want first use", first, err)
	}
	if first, err := n.FirstUse(ctx, "sys", "lost-reply", time.Minute); err != nil || first {
		t.Errorf("the same nonce again = %v, %v; want a replay", first, err)
	}
}

// startReplyLosingProxy forwards to addr; on its first connection it
// passes everything on until the client sends a SET, which it passes to
// Redis too, but then it closes the connection when Redis answers, without
// passing the answer back.
func startReplyLosingProxy(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			t.Cleanup(func() { in.Close(); out.Close() })
			if conns.Add(1) > 1 {
				go func() { _, _ = io.Copy(out, in) }()
				go func() { _, _ = io.Copy(in, out) }()
				continue
			}
			var setSent atomic.Bool
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := in.Read(buf)
					if n > 0 {
						if bytes.Contains(bytes.ToUpper(buf[:n]), []byte("\r\nSET\r\n")) {
							setSent.Store(true)
						}
						if _, err := out.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := out.Read(buf)
					if setSent.Load() {
						in.Close() // the SET's reply, lost
						out.Close()
						return
					}
					if n > 0 {
						if _, err := in.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
