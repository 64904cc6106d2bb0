package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/web"
)

// TestDemoPharmacistSignsIn: after the steps of `make run` (seed adds the
// demo pharmacist) the gateway serves the UI beside SOAP, at the address
// the demo banner prints, and the banner's credentials sign in.
func TestDemoPharmacistSignsIn(t *testing.T) {
	e := requireEnv(t)
	base := uiURL(e.endpoint)
	if !strings.HasSuffix(base, web.Path+"/") {
		t.Fatalf("uiURL(%s) = %s", e.endpoint, base)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base) // redirected to the sign-in page
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s = %d, want the sign-in form:\n%s", base, resp.StatusCode, page)
	}
	resp, err = c.PostForm(strings.TrimSuffix(base, "/")+"/signin", url.Values{
		"csrf": {string(m[1])}, "user": {seed.DemoPharmacist}, "password": {seed.DemoPharmacistPassword}})
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(home), seed.DemoPharmacy) {
		t.Fatalf("sign-in as the demo pharmacist = %d:\n%s", resp.StatusCode, home)
	}
}
