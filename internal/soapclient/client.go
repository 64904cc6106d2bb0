package soapclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Client posts requests to one SOAP endpoint. It is safe for concurrent
// use; its fields must not change once it is in use.
type Client struct {
	// Endpoint is the URL requests are posted to, and the default wsa:To.
	Endpoint string
	// HTTP sends the requests (nil: http.DefaultClient). Its Transport
	// holds the TLS configuration: a private CA, client certificates.
	HTTP *http.Client
	// Now is the clock of the UsernameToken and the Timestamp (nil:
	// time.Now).
	Now func() time.Time
	// MaxResponseBytes bounds an answer (0: 64 MiB).
	MaxResponseBytes int64

	// random, if set, replaces crypto/rand for nonces and message ids, so
	// that the package's tests can pin an envelope byte for byte.
	random io.Reader
}

// New returns a client of endpoint sending with hc (nil:
// http.DefaultClient).
func New(endpoint string, hc *http.Client) *Client {
	return &Client{Endpoint: endpoint, HTTP: hc}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Envelope returns the bytes Do would send for r now (with a fresh nonce):
// for tests that cut, wrap or replay an envelope. For a Raw request it is
// Raw itself.
func (c *Client) Envelope(r *Request) []byte {
	if r.Raw != nil {
		return r.Raw
	}
	var b bytes.Buffer
	c.writeEnvelope(&b, r, c.now())
	return b.Bytes()
}

// Do posts r and reads the answer into resp, which the caller may reuse
// from one call to the next (one per goroutine). The error is a transport
// failure: no HTTP answer, or one that could not be read whole. Any HTTP
// answer is a nil error; resp.Fault is set when it is a SOAP fault.
func (c *Client) Do(ctx context.Context, r *Request, resp *Response) error {
	resp.reset()
	// The body is a *bytes.Reader over bytes of its own: the transport
	// sends a body of a known in-memory type in one write with the
	// headers (any other reader gets the headers flushed apart, a second
	// write per request), and it may still hold the body after Do returns,
	// so the pooled envelope buffer is copied rather than lent.
	envelope := r.Raw
	if envelope == nil {
		buf := envelopeBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		c.writeEnvelope(buf, r, c.now())
		envelope = bytes.Clone(buf.Bytes())
		if buf.Cap() <= maxPooledEnvelope {
			envelopeBuffers.Put(buf)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint, bytes.NewReader(envelope))
	if err != nil {
		return err
	}
	action := r.Action()
	req.Header.Set("Content-Type", r.Version.ContentType(action))
	if r.Version == SOAP11 {
		req.Header.Set("SOAPAction", `"`+action+`"`)
	}
	for k, v := range r.HTTPHeader {
		req.Header[k] = v
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	hr, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer hr.Body.Close()
	limit := c.MaxResponseBytes
	if limit <= 0 {
		limit = 64 << 20
	}
	return resp.read(hr, limit)
}

// maxPooledEnvelope keeps the odd huge envelope (a test of the size limit)
// out of the pool.
const maxPooledEnvelope = 256 << 10

var envelopeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// randomBytes fills p from r, or from crypto/rand when r is nil.
func randomBytes(r io.Reader, p []byte) {
	if r == nil {
		_, _ = rand.Read(p) // never fails (crypto/rand)
		return
	}
	if _, err := io.ReadFull(r, p); err != nil {
		panic(fmt.Sprintf("soapclient: test random source: %v", err))
	}
}

// newUUID returns a random (version 4) UUID as a URN, the form WCF gives
// wsa:MessageID. Six lines of the standard library rather than a
// dependency for it.
func newUUID(r io.Reader) string {
	var u [16]byte
	randomBytes(r, u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
