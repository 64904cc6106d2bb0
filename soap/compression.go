package soap

import (
	"bytes"
	"compress/gzip"
	"io"
	"strconv"
	"strings"
	"sync"
)

// gzipMinBytes is the smallest answer we compress. An answer that fits
// one TCP segment (1460 bytes of payload on Ethernet, less on a tunnel)
// arrives no sooner compressed and costs us CPU, so faults and short
// answers stay plain; a card answer (several KB) shrinks to about a
// quarter.
const gzipMinBytes = 1400

// gzipLevel is gzip.BestSpeed: on a card answer it took about half the
// default level's CPU for 11% more bytes (26% of the answer against 23%),
// and the gateway's CPU is what limits it (docs/performance.md).
const gzipLevel = gzip.BestSpeed

var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzipLevel) // the level is valid
	return zw
}}

// acceptsGzip reports whether an Accept-Encoding header allows a gzip
// answer: gzip (or x-gzip) with a q-value above 0, or, when gzip is not
// named, * with one (RFC 9110, 12.5.3). It allocates nothing.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for header != "" {
		var item string
		item, header, _ = strings.Cut(header, ",")
		coding, params, _ := strings.Cut(item, ";")
		coding = strings.TrimSpace(coding)
		q := 1.0
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				} else {
					q = 0 // a q-value we cannot read allows nothing
				}
			}
		}
		switch {
		case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
			gzipQ = max(gzipQ, q)
		case coding == "*":
			starQ = max(starQ, q)
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// gzipInto compresses src into dst.
func gzipInto(dst *bytes.Buffer, src []byte) {
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(dst)
	_, _ = zw.Write(src) // a bytes.Buffer does not fail
	_ = zw.Close()
	gzipWriters.Put(zw)
}
