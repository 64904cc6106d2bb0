package envelope

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// checkLexer fails unless the lexer returns, for doc, the tokens
// encoding/xml's RawToken returns, up to the end or to the point where it
// leaves the rest to encoding/xml; it must never return a token or the end
// where RawToken fails. It reports whether the lexer read doc to its end.
func checkLexer(t *testing.T, doc []byte) bool {
	t.Helper()
	ref := xml.NewDecoder(bytes.NewReader(doc))
	ref.Strict = true
	ref.CharsetReader = refuseDeclaredCharset
	lex := &lexer{doc: doc, vocab: NewVocabulary("EchoRequest", "Text")}
	for i := 0; ; i++ {
		got, gotErr := lex.RawToken()
		if lex.unusual {
			if !errors.Is(gotErr, errUnusual) || got != nil {
				t.Fatalf("%.60q: token %d: a lexer that left the message returned %v, %v", doc, i, got, gotErr)
			}
			return false
		}
		want, wantErr := ref.RawToken()
		switch {
		case wantErr != nil && wantErr != io.EOF:
			t.Fatalf("%.60q: token %d: lexer returned %#v, %v where encoding/xml fails: %v", doc, i, got, gotErr, wantErr)
		case gotErr == io.EOF || wantErr == io.EOF:
			if gotErr != wantErr {
				t.Fatalf("%.60q: token %d: lexer %#v, %v; encoding/xml %#v, %v", doc, i, got, gotErr, want, wantErr)
			}
			return true
		case gotErr != nil:
			t.Fatalf("%.60q: token %d: lexer error %v", doc, i, gotErr)
		}
		if g, w := normalized(got), normalized(want); !reflect.DeepEqual(g, w) {
			t.Fatalf("%.60q: token %d: lexer %#v, encoding/xml %#v", doc, i, g, w)
		}
	}
}

// normalized copies a token (RawToken's data is valid until the next call)
// and gives a start element without attributes an empty list, as RawToken
// does.
func normalized(t xml.Token) xml.Token {
	t = xml.CopyToken(t)
	if s, ok := t.(xml.StartElement); ok && s.Attr == nil {
		s.Attr = []xml.Attr{}
		return s
	}
	return t
}

// lexerCorpus is every SOAP document of the tests (the answers under
// soap/testdata, requests as clients send them) and markup of each kind
// the lexer reads or leaves.
func lexerCorpus(t testing.TB) [][]byte {
	docs := [][]byte{}
	for _, s := range []string{
		commonRequest, wcfRequest,
		`<?xml version="1.0"?><a/>`, `<?xml version='1.0' encoding='utf-8'?><a/>`, `<?xml version="1.0"  encoding="Utf-8" ?><a/>`,
		`<?xml version="1.1"?><a/>`, `<?xml version="1.0" encoding="latin1"?><a/>`, `<?xml version="1.0" standalone="yes"?><a/>`,
		`<?xml version="1.0"encoding="utf-8"?><a/>`, ` <?xml version="1.0"?><a/>`, `<a><?pi x?></a>`, `<?xml?><a/>`,
		`<a b="1"c='2' d = "3"></a>`, `<a b="x>y" c="]]>"/>`, `<a b="<"/>`, `<a b="&amp;"/>`, `<a b="x` + "\r" + `"/>`,
		`<a b="x` + "\t\n" + `"/>`, `<a b>`, `<a b=c>`, `<a b="1"/ >`, `<a  />`, `</a >`, `</a b>`, `< a>`, `<a:b:c/>`, `<:a/>`,
		`<a:/>`, `<-a/>`, `<1a/>`, `<a.b-c_d:e/>`, `<æ/>`, `<aæ/>`, `<a>text</a>`, `<a>x]]>y</a>`, `<a>]]</a>`, `<a>]>]></a>`,
		`<a>&lt;</a>`, `<a>&#65;</a>`, "<a>x\r\ny</a>", "<a>x\x01</a>", "<a>x\x7f</a>", "<a>\xff</a>", "<a>\xc3</a>",
		"<a>\xed\xa0\x80</a>", "<a>\uFFFE</a>", "<a>\uFFFD Æblegrød \U0001F48A</a>", `<a><!-- c --></a>`, `<a><![CDATA[x]]></a>`,
		`<!DOCTYPE a><a/>`, `<a></b>`, `text only`, ``, `<`, `</`, `<a`, `<a b`, `<a b=`, `<a b="`, `<a/`, `<?`, `<?xml`,
	} {
		docs = append(docs, []byte(s))
	}
	// The test application's messages, as Parse reads them.
	for _, ns := range []string{NamespaceSOAP11, NamespaceSOAP12} {
		for _, headers := range []string{"", `<x:Route><x:Hop>a</x:Hop></x:Route>`, `<x:Route s:mustUnderstand="1"><x:Hop>a</x:Hop><y:Hop xmlns:y="urn:other">b</y:Hop></x:Route>`,
			`<x:Other s:mustUnderstand="true"/><wsa:Action>urn:echo</wsa:Action><wsa:MessageID>urn:uuid:1</wsa:MessageID>`,
			`<wsse:Security><wsse:UsernameToken><wsse:Username>u</wsse:Username><wsse:Password Type="` + PasswordText + `">p &amp; q</wsse:Password></wsse:UsernameToken><wsu:Timestamp><wsu:Created>2026-11-22T12:00:00Z</wsu:Created></wsu:Timestamp></wsse:Security>`} {
			for _, body := range []string{echo, `<x:EchoRequest>  <x:Text>hi` + "\n" + `</x:Text><x:Inner><x:Value>v</x:Value></x:Inner></x:EchoRequest>`,
				`<x:EchoRequest><Text>no namespace</Text></x:EchoRequest>`, `<x:Unknown/>`, `<x:EchoRequest/>`, ``} {
				docs = append(docs, []byte(doc(ns, headers, body)))
			}
		}
	}
	files, err := filepath.Glob("../testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".http") {
			_, b, _ = bytes.Cut(b, []byte("\n\n"))
		}
		docs = append(docs, b)
	}
	return docs
}

// commonRequest is a request as bench.sh's wrk and most integrators send
// it.
const commonRequest = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:mc="http://sharedmedcard.example/2026/01/medcard" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><soap:Header><wsse:Security><wsse:UsernameToken><wsse:Username>demo-gp</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">demo-secret</wsse:Password></wsse:UsernameToken></wsse:Security><mc:MessageHeader><mc:MessageID>bench-wrk</mc:MessageID></mc:MessageHeader><mc:WhitelistingHeader><mc:SystemName>demo-gp</mc:SystemName><mc:OrganisationIdentifier>SOR:483711000016009</mc:OrganisationIdentifier><mc:RequestedRole>Doctor</mc:RequestedRole></mc:WhitelistingHeader></soap:Header><soap:Body><mc:GetMedicineCardRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:IncludePrescriptions>true</mc:IncludePrescriptions></mc:GetMedicineCardRequest></soap:Body></soap:Envelope>`

// wcfRequest is a WCF client's SOAP 1.2 request, declaration, digest,
// timestamp and WS-Addressing included, indented.
const wcfRequest = `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">
  <s:Header>
    <a:Action s:mustUnderstand="1">http://sharedmedcard.example/2026/01/medcard/GetMedicineCard</a:Action>
    <a:MessageID>urn:uuid:7f0a4c2e-1d0b-4a57-9c1e-3c2b5d6e7f80</a:MessageID>
    <o:Security s:mustUnderstand="1" xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
      <u:Timestamp u:Id="_0"><u:Created>2026-11-22T12:00:00.000Z</u:Created><u:Expires>2026-11-22T12:05:00.000Z</u:Expires></u:Timestamp>
      <o:UsernameToken u:Id="uuid-1"><o:Username>hospital</o:Username><o:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">Zm9vYmFy</o:Password><o:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">bm9uY2U=</o:Nonce><u:Created>2026-11-22T12:00:00.000Z</u:Created></o:UsernameToken>
    </o:Security>
  </s:Header>
  <s:Body><GetMedicineCardRequest xmlns="http://sharedmedcard.example/2026/01/medcard"><PersonIdentifier>0101701234</PersonIdentifier></GetMedicineCardRequest></s:Body>
</s:Envelope>`

// TestLexerMatchesRawToken: over the corpus and every prefix of it (a
// message cut anywhere), the lexer returns RawToken's tokens or leaves the
// rest to encoding/xml, and never accepts what encoding/xml refuses.
func TestLexerMatchesRawToken(t *testing.T) {
	for _, doc := range lexerCorpus(t) {
		checkLexer(t, doc)
		for n := range len(doc) {
			checkLexer(t, doc[:n])
		}
	}
}

// TestLexerReadsCommonRequests: the requests integrators send are read by
// the lexer to their end, not left to encoding/xml (which would be
// correct, only slower).
func TestLexerReadsCommonRequests(t *testing.T) {
	for _, doc := range []string{commonRequest, wcfRequest, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + commonRequest} {
		if !checkLexer(t, []byte(doc)) {
			t.Errorf("the lexer left %.80q... to encoding/xml", doc)
		}
	}
}

// TestParseSameEitherWay: Parse reads a message the lexer reads to its end
// as it reads it with encoding/xml's tokenizer alone.
func TestParseSameEitherWay(t *testing.T) {
	cfg := testConfig
	cfg.Limits = Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxTokens: 50_000}
	for _, doc := range lexerCorpus(t) {
		var viaLexer, viaXML Message
		appLexer, appXML := &testApp{}, &testApp{}
		errLexer := Parse(&viaLexer, doc, "", cfg, appLexer)
		utf8Doc, _, errXML := toUTF8(doc, "", cfg.Limits.MaxBytes)
		if errXML == nil {
			raw := xml.NewDecoder(bytes.NewReader(utf8Doc))
			raw.Strict = true
			raw.CharsetReader = refuseDeclaredCharset
			errXML = parseTokens(&viaXML, raw, cfg, appXML)
		}
		if !reflect.DeepEqual(viaLexer, viaXML) || !reflect.DeepEqual(appLexer, appXML) || !sameError(errLexer, errXML) {
			t.Errorf("%.60q:\n lexer          %+v %+v %v\n encoding/xml   %+v %+v %v", doc, viaLexer, appLexer, errLexer, viaXML, appXML, errXML)
		}
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// FuzzLexer: for any document the lexer returns RawToken's tokens or
// leaves the rest to encoding/xml.
func FuzzLexer(f *testing.F) {
	for _, doc := range lexerCorpus(f) {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkLexer(t, doc)
	})
}

// BenchmarkParse reads the common request with the lexer and with
// encoding/xml's tokenizer alone.
//
//	go test -run '^$' -bench Parse -benchmem ./soap/envelope
func BenchmarkParse(b *testing.B) {
	cfg := Config{Limits: Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxTokens: 50_000}, Namespace: "http://sharedmedcard.example/2026/01/medcard"}
	doc := []byte(commonRequest)
	b.Run("lexer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m Message
			if err := Parse(&m, doc, "", cfg, &testApp{}); kindOf(err) != UnknownBody {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m Message
			raw := xml.NewDecoder(bytes.NewReader(doc))
			raw.Strict = true
			if err := parseTokens(&m, raw, cfg, &testApp{}); kindOf(err) != UnknownBody {
				b.Fatal(err)
			}
		}
	})
}
