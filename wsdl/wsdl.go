// Package wsdl holds the service description we own: the WSDL of the
// medicine card service with its schema inline. The gateway serves it at
// ?wsdl; the test client in internal/wsdlclient is generated from it.
package wsdl

import (
	"bytes"
	_ "embed"
)

//go:embed medcard.wsdl
var source []byte

// placeholderAddress is the soap:address location in the file; Render
// replaces it with the gateway's public address.
const placeholderAddress = "http://gateway.invalid/medcard"

// Source returns the WSDL as stored, with the placeholder address.
func Source() []byte { return bytes.Clone(source) }

// Render returns the WSDL with every port's address set to endpoint, the
// public URL of the SOAP endpoint.
func Render(endpoint string) []byte {
	var esc bytes.Buffer
	for _, r := range endpoint {
		switch r {
		case '&':
			esc.WriteString("&amp;")
		case '"':
			esc.WriteString("&quot;")
		case '<':
			esc.WriteString("&lt;")
		default:
			esc.WriteRune(r)
		}
	}
	return bytes.ReplaceAll(source, []byte(placeholderAddress), esc.Bytes())
}
