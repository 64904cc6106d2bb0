// Command trivial is the HTTP ceiling of `make bench`: the smallest Go
// server that answers a SOAP POST the way the gateway answers a cached
// GetMedicineCard. It reads the request body and writes a canned response
// (a real GetMedicineCardResponse captured from the gateway), so `gateway
// bench` loads it exactly like the gateway, and the gateway's hot read can
// be compared with what net/http alone costs on the same machine.
//
//	trivial --listen 127.0.0.1:18090 --body response.xml
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18090", "address to listen on")
	bodyFile := flag.String("body", "", "file holding the SOAP response to answer every POST with")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trivial:", err)
		os.Exit(1)
	}
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(body)
	})
	if err := http.ListenAndServe(*listen, h); err != nil {
		fmt.Fprintln(os.Stderr, "trivial:", err)
		os.Exit(1)
	}
}
