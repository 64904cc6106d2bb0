package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/internal/testservers"
)

// TestNonceReplayCheckedWhileRedisDown: the replay check of PasswordDigest
// tokens does not turn off while Redis is down. A token used during the
// outage is refused when replayed then, at either gateway, after Redis is
// back, and at a gateway started after the outage that never fell back;
// when neither Redis nor the catalog can record a nonce, the token is
// refused with a retryable fault instead of accepted.
func TestNonceReplayCheckedWhileRedisDown(t *testing.T) {
	e := requireEnv(t)
	r, err := testservers.StartRedis()
	testservers.RequireT(t, err)
	t.Cleanup(func() { r.Stop() })
	_, portText, _ := net.SplitHostPort(r.Addr)
	port, _ := strconv.Atoi(portText)
	config := func(endpoint string) app.Config { return e.config(endpoint, r.Addr) }
	a, b := startGateway(t, config), startGateway(t, config)

	client := soapclient.New(a.endpoint, newLoadClient(t))
	token := func() []byte { return client.Envelope(call{body: getCardBody(freshPerson(t))}.request()) }
	sendTo := func(gw *testGateway, envelope []byte) (int, soapclient.Fault) {
		t.Helper()
		var resp soapclient.Response
		err := soapclient.New(gw.endpoint, newLoadClient(t)).Do(context.Background(),
			&soapclient.Request{Raw: envelope}, &resp)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		if f, err := soapclient.ParseFault(resp.Body); err == nil {
			return resp.Status, *f
		}
		return resp.Status, soapclient.Fault{}
	}
	wantOK := func(step string, gw *testGateway, envelope []byte) {
		t.Helper()
		if status, f := sendTo(gw, envelope); status != http.StatusOK {
			t.Errorf("%s: status %d, fault %s, want 200", step, status, f.Identifier)
		}
	}
	wantReplay := func(step string, gw *testGateway, envelope []byte) {
		t.Helper()
		if status, f := sendTo(gw, envelope); status != http.StatusInternalServerError || f.Identifier != "NotAuthenticated" {
			t.Errorf("%s: status %d, fault %q, want 500 NotAuthenticated", step, status, f.Identifier)
		}
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	duringOutage := token()
	wantOK("first use while Redis is down", a, duringOutage)
	wantReplay("replay at the same gateway while Redis is down", a, duringOutage)
	wantReplay("replay at the other gateway while Redis is down", b, duringOutage)

	r2, err := testservers.StartRedisOnPort(port)
	if err != nil {
		t.Fatalf("restart Redis on port %d: %v", port, err)
	}
	t.Cleanup(func() { r2.Stop() })
	// The breakers let a probe through at most 2 s after they opened.
	time.Sleep(2500 * time.Millisecond)
	c := startGateway(t, config)
	// c learns from the catalog's live nonces within its poll (1 s).
	time.Sleep(1500 * time.Millisecond)
	wantReplay("replay at a gateway that fell back, Redis back", b, duringOutage)
	wantReplay("replay at a gateway started after the outage", c, duringOutage)

	afterOutage := token()
	wantOK("first use, Redis back", c, afterOutage)
	wantReplay("replay, Redis back", a, afterOutage)

	// Neither store can record a nonce: Redis stopped and the catalog's
	// table unreachable (renamed away for a moment).
	if err := r2.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.cluster.Catalog.Exec(ctx, `ALTER TABLE used_nonces RENAME TO used_nonces_away`); err != nil {
		t.Fatal(err)
	}
	status, f := sendTo(a, token())
	if _, err := e.cluster.Catalog.Exec(ctx, `ALTER TABLE used_nonces_away RENAME TO used_nonces`); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusInternalServerError || f.Identifier != "ServiceUnavailable" || !f.Retryable {
		t.Errorf("token while neither Redis nor the catalog can record its nonce: status %d, fault %q (retryable %v), want 500 ServiceUnavailable, retryable",
			status, f.Identifier, f.Retryable)
	}
	wantOK("first use, Redis down, catalog back", a, token())
}
