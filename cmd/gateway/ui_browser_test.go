package main

import (
	"context"
	"fmt"
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

// axeSource is axe-core's script (make test-deps fetches it; the Makefile
// passes its path in MEDCARD_AXE_JS), the accessibility rules every page
// is checked against.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("MEDCARD_AXE_JS")
	if path == "" {
		found, _ := filepath.Glob("../../.cache/axe-core-*/axe.min.js")
		if len(found) == 0 {
			testservers.RequireT(t, errMissing("axe-core (make test-deps fetches it into .cache/)"))
			return ""
		}
		path = found[len(found)-1]
	}
	src, err := os.ReadFile(path)
	if err != nil {
		testservers.RequireT(t, errMissing("axe-core at "+path+" (make test-deps fetches it)"))
		return ""
	}
	return string(src)
}

// axeRules are the rule sets a page must pass: WCAG 2.2 A and AA, and
// axe's best practices (landmarks, one h1, headings in order).
const axeRules = `['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']`

// axeViolation is one broken rule on a page, with where it broke.
type axeViolation struct {
	ID, Impact, Help string
	Nodes            []string
}

// accessible checks the page in the browser against axeRules (axe-core,
// injected through DevTools, which the page's CSP does not govern).
func accessible(t *testing.T, axe, page string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Evaluate[chromedp.Void](axe)(ctx, tg); err != nil {
			return fmt.Errorf("load axe-core: %w", err)
		}
		found, err := chromedp.Evaluate[[]axeViolation](`axe.run(document, {runOnly: {type: 'tag', values: `+axeRules+`}}).then(r =>
			r.violations.map(v => ({ID: v.id, Impact: v.impact || '', Help: v.help, Nodes: v.nodes.map(n => n.target.join(' '))})))`,
			chromedp.EvalAwaitPromise)(ctx, tg)
		if err != nil {
			return fmt.Errorf("run axe-core: %w", err)
		}
		for _, v := range found {
			t.Errorf("%s page: accessibility rule %s (%s): %s, at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
		}
		return nil
	})
}

// tabTo presses Tab until the focus is on a control whose text is label
// and whose accessible name (aria-label, else the text) holds name (at most
// 150 times), as a keyboard user reaches it; it fails if it never gets
// there.
func tabTo(label, name string) chromedp.Action[chromedp.Void] {
	focused := fmt.Sprintf(`(() => { const el = document.activeElement; if (!el) return false;
		const text = el.textContent.trim(); return text === %q && (el.getAttribute('aria-label') || text).includes(%q); })()`, label, name)
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for range 150 {
			if _, err := chromedp.KeyEvent(kb.Tab)(ctx, tg); err != nil {
				return err
			}
			ok, err := chromedp.Evaluate[bool](focused)(ctx, tg)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
		}
		return fmt.Errorf("Tab never reached %q (%q)", label, name)
	})
}

// press tabs to the control labelled label and presses Enter on it.
func press(label string) chromedp.Action[chromedp.Void] { return pressNamed(label, label) }

// pressNamed is press for the one of several like controls whose
// accessible name holds name.
func pressNamed(label, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(tabTo(label, name), chromedp.KeyEvent(kb.Enter))
}

type errMissing string

func (e errMissing) Error() string { return string(e) + " not found" }

// TestPharmacistInABrowser drives the UI in real headless Chromium, with
// the keyboard only (typing, Tab to a control, Enter): sign in, look up a
// citizen, dispense, see a refusal, settle a conflict two SOAP writes made,
// see an order placed over SOAP in the inbox and acknowledge it, sign out.
// Every page is kept as a screenshot and checked with axe-core.
func TestPharmacistInABrowser(t *testing.T) {
	e := requireEnv(t)
	path := chromium(t)
	axe := axeSource(t)
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
			if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644); err != nil {
				return err
			}
			_, err = accessible(t, axe, name)(ctx, tg)
			return err
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
	// onTablet shows the page as a tablet held upright (768×1024) would:
	// it must fit the width, with no sideways scrolling.
	onTablet := func(what, name string) {
		t.Helper()
		run(what+" on a tablet", chromedp.EmulateViewport(768, 1024), shot(name))
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
		if err != nil || overflow > 0 {
			t.Errorf("the %s page on a tablet is %d px wider than the screen (err %v)", what, overflow, err)
		}
		run(what+" back at the desk", chromedp.EmulateViewport(1280, 800))
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
	onTablet("card", "3-card-tablet")
	page = run("dispense", press("Dispense"),
		chromedp.WaitVisible(chromedp.CSS(".notice")), shot("4-dispensed"))
	if !strings.Contains(page, "Dispensed 1 package") || !strings.Contains(page, "1 of 2") {
		t.Fatalf("after dispensing: %q", page)
	}

	// A refusal: another pharmacy holds the order.
	held := newFixture(t, false)
	held.write(t, otherPharmacist, held.createOrder(held.rx))
	run("card with another pharmacy's order", lookUp(held.person))
	page = run("refused dispensing", press("Dispense"),
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
	page = run("settle", press("Keep variant 1"),
		chromedp.WaitVisible(chromedp.CSS(".notice")), shot("7-settled"))
	if !strings.Contains(page, "Conflict settled") {
		t.Fatalf("after settling: %q", page)
	}

	// The inbox: an order the pharmacy's own system placed over SOAP.
	o := newFixture(t, false)
	o.write(t, actor{system: "demo-pharmacy", role: "Pharmacist", org: seed.DemoPharmacy}, o.createOrder(o.rx))
	page = run("inbox", press("Order inbox"),
		chromedp.WaitVisible(chromedp.ID("inbox-title")), shot("8-inbox"))
	if !strings.Contains(page, o.person) {
		t.Fatalf("the inbox lacks the order placed over SOAP: %q", page)
	}
	onTablet("inbox", "8-inbox-tablet")
	// Acknowledged, its row says so and has no Acknowledge button.
	page = run("acknowledge", pressNamed("Acknowledge", o.person),
		chromedp.WaitVisible(chromedp.CSS(".notice")), shot("9-acknowledged"))
	if !strings.Contains(page, "Order acknowledged") {
		t.Fatalf("after acknowledging: %q", page)
	}
	left, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(
		`document.querySelectorAll('button[aria-label^="Acknowledge"][aria-label$=%q]').length`, " for "+o.person)))
	if err != nil || left != 0 {
		t.Fatalf("after acknowledging, %d Acknowledge buttons for the order (err %v)", left, err)
	}

	// Sign out.
	page = run("sign out", press("Sign out"),
		chromedp.WaitVisible(chromedp.ID("user")), shot("10-signed-out"))
	if !strings.Contains(page, "Sign in") {
		t.Fatalf("after sign-out: %q", page)
	}
}
