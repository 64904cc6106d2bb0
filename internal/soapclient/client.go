package soapclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
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
	var body io.Reader
	var length int
	if r.Raw != nil {
		body, length = bytes.NewReader(r.Raw), len(r.Raw)
	} else {
		buf := envelopeBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		c.writeEnvelope(buf, r, c.now())
		pb := &requestBody{buf: buf}
		pb.Reset(buf.Bytes())
		body, length = pb, buf.Len()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint, body)
	if err != nil {
		if pb, ok := body.(*requestBody); ok {
			_ = pb.Close()
		}
		return err
	}
	// The pooled body is no bytes.Reader to NewRequest, so its length is
	// set here, or the request would go out chunked.
	req.ContentLength = int64(length)
	if length == 0 {
		req.Body = http.NoBody
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

// requestBody posts a pooled envelope buffer. The transport closes a
// request's body when it is done with it, which may be after Do returns
// (and may be more than once), so the buffer goes back to the pool at the
// first Close.
type requestBody struct {
	bytes.Reader
	buf    *bytes.Buffer
	closed atomic.Bool
}

func (b *requestBody) Close() error {
	if !b.closed.Swap(true) && b.buf.Cap() <= maxPooledEnvelope {
		envelopeBuffers.Put(b.buf)
	}
	return nil
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
