package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/seed"
)

// screenshotDir is where the browser test keeps a screenshot of every page
// it saw (git-ignored), for a person to look at.
const screenshotDir = "../../test-artifacts/ui"

// chromium finds the Debian chromium binary (make test-deps installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testservers.RequireT(t, errMissing("chromium (apt-get install chromium; make test-deps installs it)"))
	return ""
}

type errMissing string

func (e errMissing) Error() string { return string(e) + " not found" }

// TestPharmacistInABrowser drives the UI in real headless Chromium, with
// the keyboard only: sign in, look up a citizen, dispense, see a refusal,
// settle a conflict two SOAP writes made, see an order placed over SOAP in
// the inbox, sign out. Every page is kept as a screenshot.
func TestPharmacistInABrowser(t *testing.T) {
	e := requireEnv(t)
	path := chromium(t)
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 800))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first Do starts the browser, with no timeout (it would stop the
	// browser); each step after it gets one.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg) // quality 100 is PNG
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644)
		})
	}
	var persons []string // every CPR number typed so far: none may ever be in a URL
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) string {
		t.Helper()
		stepCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(stepCtx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		at, err := chromedp.Run(stepCtx, chromedp.Location())
		if err != nil {
			t.Fatalf("%s: read the location: %v", what, err)
		}
		for _, p := range persons {
			if strings.Contains(at, p) || strings.Contains(at, p[:6]+"-"+p[6:]) {
				t.Errorf("%s: the URL %s holds a CPR number", what, at)
			}
		}
		text, err := chromedp.Run(stepCtx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatalf("%s: read the page: %v", what, err)
		}
		return text
	}
	// lookUp types a CPR number into the search form and sends it with Enter.
	lookUp := func(person string) chromedp.Action[chromedp.Void] {
		persons = append(persons, person)
		return chromedp.Steps(chromedp.Navigate(uiURL(e.endpoint)), chromedp.WaitVisible(chromedp.ID("cpr")),
			chromedp.SendKeys(chromedp.ID("cpr"), person+kb.Enter),
			// Only the card page has it (the search page's h1 would match
			// before the form's navigation replaced it).
			chromedp.WaitVisible(chromedp.Search(`//a[text()="Find another citizen"]`)))
	}
	button := func(label string) chromedp.Search { return chromedp.Search(`//button[text()="` + label + `"]`) }

	page := run("sign-in page", chromedp.Navigate(uiURL(e.endpoint)), chromedp.WaitVisible(chromedp.ID("user")), shot("1-sign-in"))
	if !strings.Contains(page, "Sign in") {
		t.Fatalf("the UI's address shows %q, want the sign-in form", page)
	}
	page = run("sign in", chromedp.SendKeys(chromedp.ID("user"), seed.DemoPharmacist),
		chromedp.SendKeys(chromedp.ID("password"), seed.DemoPharmacistPassword+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("cpr")), shot("2-find-a-citizen"))
	if !strings.Contains(page, "Find a citizen") {
		t.Fatalf("after sign-in: %q", page)
	}

	// Look up and dispense.
	f := newFixture(t, false)
	page = run("card page", lookUp(f.person), shot("3-card"))
	if !strings.Contains(page, "Pinex") || !strings.Contains(page, "2 of 2") {
		t.Fatalf("card page: %q", page)
	}
	page = run("dispense", chromedp.Click(button("Dispense")),
		chromedp.WaitVisible(chromedp.CSS(".notice")), shot("4-dispensed"))
	if !strings.Contains(page, "Dispensed 1 package") || !strings.Contains(page, "1 of 2") {
		t.Fatalf("after dispensing: %q", page)
	}

	// A refusal: another pharmacy holds the order.
	held := newFixture(t, false)
	held.write(t, otherPharmacist, held.createOrder(held.rx))
	run("card with another pharmacy's order", lookUp(held.person))
	page = run("refused dispensing", chromedp.Click(button("Dispense")),
		chromedp.WaitVisible(chromedp.CSS(".error")), shot("5-refused"))
	if !strings.Contains(page, "Refused:") {
		t.Fatalf("dispensing against another pharmacy's order: %q", page)
	}

	// A conflict made by two SOAP writes, settled.
	c := newFixture(t, false)
	c.conflicted(t)
	page = run("conflicted card", lookUp(c.person), chromedp.WaitVisible(chromedp.CSS(".settle")), shot("6-conflict"))
	if !strings.Contains(page, "3 tabletter daglig") || !strings.Contains(page, "4 tabletter daglig") {
		t.Fatalf("conflict page: %q", page)
	}
	page = run("settle", chromedp.Click(button("Keep variant 1")),
		chromedp.WaitVisible(chromedp.CSS(".notice")), shot("7-settled"))
	if !strings.Contains(page, "Conflict settled") {
		t.Fatalf("after settling: %q", page)
	}

	// The inbox: an order the pharmacy's own system placed over SOAP.
	o := newFixture(t, false)
	o.write(t, actor{system: "demo-pharmacy", role: "Pharmacist", org: seed.DemoPharmacy}, o.createOrder(o.rx))
	page = run("inbox", chromedp.Click(chromedp.Search(`//a[text()="Order inbox"]`)),
		chromedp.WaitVisible(chromedp.ID("inbox-title")), shot("8-inbox"))
	if !strings.Contains(page, o.person) {
		t.Fatalf("the inbox lacks the order placed over SOAP: %q", page)
	}

	// Sign out.
	page = run("sign out", chromedp.Click(button("Sign out")),
		chromedp.WaitVisible(chromedp.ID("user")), shot("9-signed-out"))
	if !strings.Contains(page, "Sign in") {
		t.Fatalf("after sign-out: %q", page)
	}
}
