package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"

	"github.com/dprop/dprop/internal/brokertest"
)

// The web page (/ui/) in a real browser: headless Chromium driven through
// the DevTools protocol. Without a Chromium these tests skip, saying how to
// get one, unless DPROP_BROWSER_TESTS=1 (as .ci/run sets it, after
// scripts/chromium.sh) makes a missing browser a failure. With
// DPROP_UI_SCREENSHOTS=1 they write the screenshots of docs/img/.

// liveWithin is how long the page may take to show what was published: the
// test waits on the condition with this deadline, it does not time the page.
const liveWithin = 2 * time.Second

// findChromium returns the browser to drive: $DPROP_CHROMIUM, or the first
// of Debian's and others' names on PATH.
func findChromium() string {
	if p := os.Getenv("DPROP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium for one test, and the console errors of
// its tabs.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
	ignore string // console errors that hold it are expected
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := findChromium()
	if path == "" {
		if os.Getenv("DPROP_BROWSER_TESTS") == "1" {
			t.Fatal("DPROP_BROWSER_TESTS=1 but no Chromium was found: run scripts/chromium.sh, or set DPROP_CHROMIUM to a browser")
		}
		t.Skip("no Chromium found (chromium, chromium-browser or google-chrome on PATH, or DPROP_CHROMIUM): " +
			"the browser tests of the web page skip; scripts/chromium.sh installs Debian's chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 800),
		chromedp.Flag("enable-precise-memory-info", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(cancelCtx)
	b := &browser{t: t, ctx: ctx}
	b.watch(ctx)
	return b
}

// tab opens another tab of the browser, its console watched too.
func (b *browser) tab() context.Context {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	b.watch(ctx)
	return ctx
}

// watch records the console errors, uncaught exceptions and failed loads
// of the tab of ctx.
func (b *browser) watch(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s (%s:%d)", m.String(), m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
}

// noConsoleErrors fails the test if any tab logged an error.
func (b *browser) noConsoleErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []string
	for _, e := range b.errors {
		if b.ignore == "" || !strings.Contains(e, b.ignore) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		b.t.Errorf("the page logged %d console error(s):\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// do runs actions in a tab.
func (b *browser) do(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval returns the value of a JavaScript expression in a tab.
func eval[T any](b *browser, ctx context.Context, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitUntil waits, at most d, for a JavaScript condition to hold in a tab.
func (b *browser) waitUntil(ctx context.Context, what, cond string, d time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(25*time.Millisecond))); err != nil {
		b.t.Fatalf("%s, within %v: %v", what, d, err)
	}
}

// screenshot writes docs/img/NAME.png when DPROP_UI_SCREENSHOTS=1.
func (b *browser) screenshot(ctx context.Context, name string) {
	b.t.Helper()
	if os.Getenv("DPROP_UI_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join("..", "..", "docs", "img", name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("wrote %s (%d KB)", path, len(png)>>10)
}

// upDemo starts dprop up with the seed's network on free ports and waits
// until it is ready; it returns the API's URL and the NATS server's.
func upDemo(t *testing.T, args ...string) (api, natsURL string, p *proc) {
	t.Helper()
	natsAddr, httpAddr := freePort(t), freePort(t)
	p = startDprop(t, append([]string{"up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http", httpAddr,
		"--network", filepath.Join("..", "..", "testdata", "networks", "temperature.yaml")}, args...)...)
	api = "http://" + httpAddr
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	brokertest.WaitFor(t, "dprop up's banner", func() bool { return strings.Contains(p.output(), "Stop with Ctrl-C") })
	return api, "nats://" + natsAddr, p
}

func natsPub(t *testing.T, natsURL, cell, value string) {
	t.Helper()
	if _, errOut, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell."+cell, value); code != 0 {
		t.Fatalf("nats pub %s %s: exit %d: %s", cell, value, code, errOut)
	}
}

var seedDays = []string{
	`{"type":"range","min":34,"max":48}`,
	`{"type":"range","min":36,"max":43}`,
	`{"type":"range","min":33,"max":36}`,
	`{"type":"range","min":31,"max":42}`,
	`{"type":"range","min":31,"max":57}`,
}

// rowValue is a JavaScript expression: the value column of a cell's row in
// the cells table.
func rowValue(cell string) string {
	return fmt.Sprintf(`(document.querySelector('#cells tr[data-cell=%q] td.value') || {}).textContent`, cell)
}

// graphValue is a JavaScript expression: the value line of a cell's box in
// the network drawing.
func graphValue(cell string) string {
	return fmt.Sprintf(`((document.getElementById(%q) || document).querySelector('text.value') || {}).textContent`, "cell:"+cell)
}

// The README's tour in a browser: the cells table and the network drawing,
// open before anything is published, show the seed's five days (published
// with the real nats CLI) and the Celsius range without a reload; a
// contradiction is marked on both; the cell page plots one point per
// change; nothing is logged to the console.
func TestWebPage(t *testing.T) {
	b := newBrowser(t)
	api, natsURL, _ := upDemo(t)
	cells, net := b.ctx, b.tab()
	b.do(cells, "opening the cells view", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(api+"/ui/"), chromedp.WaitVisible("#cells"))
	b.do(net, "opening the network view", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(api+"/ui/#/network"), chromedp.WaitVisible("#graph svg"))
	for _, tab := range []context.Context{cells, net} {
		b.waitUntil(tab, "the event stream to be live", `document.getElementById('live').textContent === 'live'`, 10*time.Second)
		eval[bool](b, tab, `window.notReloaded = true`)
	}

	for _, day := range seedDays {
		natsPub(t, natsURL, "weather.boston.temp_f", day)
	}
	const f, c = "weather.boston.temp_f", "weather.boston.temp_c"
	const wantF, wantC = "31 … 57", "-0.56 … 13.89" // (31−32)·5/9 and (57−32)·5/9
	b.waitUntil(cells, "the cells table to show "+wantF+" and "+wantC,
		fmt.Sprintf(`%s === %q && %s === %q`, rowValue(f), wantF, rowValue(c), wantC), liveWithin)
	b.waitUntil(net, "the network drawing to show "+wantF+" and "+wantC,
		fmt.Sprintf(`%s === %q && %s === %q`, graphValue(f), wantF, graphValue(c), wantC), liveWithin)
	b.waitUntil(net, "the propagator's run count", `/runs [1-9]/.test(document.querySelector('#graph g.prop text.stats').textContent)`, 10*time.Second)

	// A contradiction in the table, with what disagreed.
	natsPub(t, natsURL, "demo.exact", `{"type":"number","value":3}`)
	natsPub(t, natsURL, "demo.exact", `{"type":"number","value":4}`)
	b.waitUntil(cells, "the contradiction marked in the table",
		`(r => r && r.classList.contains('contradiction') && r.querySelector('td.value').textContent.includes('number: 3 ≠ 4'))(document.querySelector('#cells tr[data-cell="demo.exact"]'))`, liveWithin)
	b.waitUntil(cells, "the table's counts and times", fmt.Sprintf(`(r => r && r.querySelector('td.num').textContent === '5' && /\d\d:\d\d:\d\d/.test(r.querySelector('td.when').textContent))(document.querySelector('#cells tr[data-cell=%q]'))`, f), 10*time.Second)
	b.screenshot(cells, "ui-cells")
	b.screenshot(net, "ui-network")

	// The cell page: one point per change of the log.
	b.do(cells, "opening the cell", chromedp.Click(fmt.Sprintf(`#cells tr[data-cell=%q] a`, f)), chromedp.WaitVisible("#plot"))
	var hist struct {
		Entries []struct{ Changed bool } `json:"entries"`
	}
	_, _, body := httpGet(t, api+"/v1/cells/"+f+"/history")
	if err := json.Unmarshal([]byte(body), &hist); err != nil {
		t.Fatal(err)
	}
	changes := 0
	for _, e := range hist.Entries {
		if e.Changed {
			changes++
		}
	}
	if changes != 4 { // the second day is inside the first
		t.Errorf("history: %d changes, want 4: %s", changes, body)
	}
	b.waitUntil(cells, fmt.Sprintf("the plot to have %d points", changes), fmt.Sprintf(`document.querySelectorAll('#plot .pt').length === %d`, changes), liveWithin)
	b.waitUntil(cells, "the history table", `document.querySelectorAll('#history tbody tr').length === 5`, liveWithin)
	b.screenshot(cells, "ui-cell")

	// A contradiction on the network: published to the Fahrenheit cell,
	// derived into the Celsius one by the propagator.
	natsPub(t, natsURL, f, `{"type":"contradiction","values":[{"type":"range","min":31,"max":57},{"type":"max","value":99}]}`)
	b.waitUntil(net, "both cells marked as contradictions on the drawing", fmt.Sprintf(
		`[%q, %q].every(id => document.getElementById(id).classList.contains('contradiction')) && %s.includes('type conflict')`,
		"cell:"+f, "cell:"+c, graphValue(f)), liveWithin)
	b.waitUntil(cells, "the cell page to say what disagreed", `document.getElementById('cell-summary').classList.contains('contradiction') && document.querySelector('#cell-summary .why').textContent.includes('type conflict: max vs range')`, liveWithin)

	for _, tab := range []context.Context{cells, net} {
		if !eval[bool](b, tab, `window.notReloaded === true`) {
			t.Error("the page reloaded")
		}
	}

	// Health, and the cells view on a phone's screen: nothing wider than it.
	b.do(net, "opening health", chromedp.Navigate(api+"/ui/#/health"), chromedp.WaitVisible("#readiness"))
	b.waitUntil(net, "the refusals and propagators", `!!document.getElementById('refusals') && /runs/.test(document.getElementById('propagators').textContent)`, 10*time.Second)
	b.do(cells, "a phone's screen", chromedp.EmulateViewport(390, 844), chromedp.Navigate(api+"/ui/#/cells"), chromedp.WaitVisible("#cells tbody tr"))
	if w := eval[float64](b, cells, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("on a 390 px screen the cells view is %v px too wide", w)
	}
	b.noConsoleErrors()
}

// With tokens, the page asks for one, keeps it in the tab, sends it on
// every request and event stream (in a header: there is no way to put it
// in a URL), and the refine form's POST passes the Origin check.
func TestWebPageWithToken(t *testing.T) {
	b := newBrowser(t)
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	out, errOut, code := runCmd(t, dpropBin, "access", "token", "ui", "--read", ">", "--refine", ">", "--admin", "--file", tokens)
	if code != 0 {
		t.Fatalf("access token: %d %s", code, errOut)
	}
	token := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	api, natsURL, _ := upDemo(t, "--http-tokens", tokens)

	ctx := b.ctx
	b.do(ctx, "opening the page", chromedp.Navigate(api+"/ui/"), chromedp.WaitVisible("#token-input"))
	// The 401s that made the page ask are logged by the browser as failed
	// loads: those are expected. (A 401 once the token is given would show
	// the form again, and the steps below would not pass.)
	b.ignore = "status of 401 (Unauthorized)"
	b.do(ctx, "giving the token", chromedp.SendKeys("#token-input", token), chromedp.Click(`#token-form button[type=submit]`), chromedp.WaitVisible("#cells"))
	b.waitUntil(ctx, "the event stream to be live", `document.getElementById('live').textContent === 'live'`, 10*time.Second)
	if got := eval[string](b, ctx, `sessionStorage.getItem('dprop.token')`); got != token {
		t.Errorf("the token is not in the tab's session storage: %q", got)
	}
	if n := eval[int](b, ctx, `localStorage.length + document.cookie.length`); n != 0 {
		t.Errorf("the page stored something beyond the tab's session (%d)", n)
	}
	natsPub(t, natsURL, "weather.boston.temp_f", seedDays[0])
	b.waitUntil(ctx, "the table to show the update", fmt.Sprintf(`%s === "34 … 48"`, rowValue("weather.boston.temp_f")), liveWithin)

	b.do(ctx, "refining through the form", chromedp.Navigate(api+"/ui/#/cell/weather.boston.temp_f"), chromedp.WaitVisible("#refine-form"),
		chromedp.SendKeys("#refine-value", `{"type":"range","min":20,"max":40}`), chromedp.Click(`#refine-form button[type=submit]`))
	b.waitUntil(ctx, "the refine's answer", `/HTTP 200/.test(document.getElementById('try-result').textContent)`, 10*time.Second)
	b.waitUntil(ctx, "the merged value", `document.getElementById('cell-human').textContent === '20 … 48'`, liveWithin)
	if !strings.Contains(eval[string](b, ctx, `document.getElementById('try-result').textContent`), `"min":20,"max":48`) {
		t.Errorf("refine answer: %s", eval[string](b, ctx, `document.getElementById('try-result').textContent`))
	}
	b.do(ctx, "opening health", chromedp.Navigate(api+"/ui/#/health"))
	b.waitUntil(ctx, "the admin figures", `!!document.getElementById('refusals')`, 10*time.Second)
	b.noConsoleErrors()
}

// TestWebPageTenThousandCells measures the cells view over 10,000 cells:
// the time from navigation to the first page of the table, and the tab's
// JavaScript heap then and once the event stream's first burst (the
// current value of every matching cell) has been read. It only runs with
// DPROP_UI_MEASURE=1, and reports; it asserts no speed (docs/ui.md has the
// figures).
func TestWebPageTenThousandCells(t *testing.T) {
	if os.Getenv("DPROP_UI_MEASURE") != "1" {
		t.Skip("set DPROP_UI_MEASURE=1 to measure the web page over 10,000 cells")
	}
	const n = 10_000
	b := newBrowser(t)
	api, natsURL, _ := upDemo(t)
	// The same with one cell, to tell the page's own start from the cells'.
	natsPub(t, natsURL, "weather.boston.temp_f", seedDays[0])
	for range 2 {
		tab := b.tab()
		b.do(tab, "opening the cells view", chromedp.Navigate(api+"/ui/"))
		b.waitUntil(tab, "the first page", `document.querySelectorAll('#cells tbody tr').length >= 1`, 30*time.Second)
		t.Logf("one cell: first page rendered %.0f ms after navigation (DOMContentLoaded at %.0f ms); JS heap %.1f MB",
			eval[float64](b, tab, `performance.now()`), eval[float64](b, tab, `performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd`),
			eval[float64](b, tab, `performance.memory.usedJSHeapSize`)/1e6)
	}
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := range n {
		if err := nc.Publish(fmt.Sprintf("dprop.cell.load.c%05d", i), fmt.Appendf(nil, `{"type":"range","min":%d,"max":%d}`, i, i+10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	brokertest.WaitFor(t, "10,000 cells", func() bool {
		_, _, body := httpGet(t, api+"/readyz")
		var r struct{ Cells int }
		_ = json.Unmarshal([]byte(body), &r)
		return r.Cells >= n
	})
	for round := range 3 {
		tab := b.tab()
		b.do(tab, "opening the cells view", chromedp.Navigate(api+"/ui/"))
		b.waitUntil(tab, "the first page", `document.querySelectorAll('#cells tbody tr').length === 100`, 30*time.Second)
		first := eval[float64](b, tab, `performance.now()`)
		dcl := eval[float64](b, tab, `performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd`)
		heap1 := eval[float64](b, tab, `performance.memory.usedJSHeapSize`)
		b.waitUntil(tab, "the event stream to be live", `document.getElementById('live').textContent === 'live'`, 30*time.Second)
		time.Sleep(5 * time.Second) // the stream's first burst: 10,000 events
		heap2 := eval[float64](b, tab, `performance.memory.usedJSHeapSize`)
		t0 := time.Now()
		b.do(tab, "the next page", chromedp.Click("div.pager button:last-child"))
		b.waitUntil(tab, "the second page", `document.getElementById('page-info').textContent.startsWith('cells 101–200')`, 30*time.Second)
		t.Logf("round %d: first page rendered %.0f ms after navigation (DOMContentLoaded at %.0f ms); JS heap %.1f MB then, %.1f MB after the stream's first 10,000 events; next page in %v",
			round+1, first, dcl, heap1/1e6, heap2/1e6, time.Since(t0).Round(time.Millisecond))
	}
	b.noConsoleErrors()
}

// The network view of a sidecar that runs only the networks of the log
// (dprop up --networks '*', no network file): no drawing, and a table per
// network of its templates with the instances known and running here,
// which grows as cities appear, without a reload.
func TestWebPageLiveNetworks(t *testing.T) {
	b := newBrowser(t)
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	startDprop(t, "up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http", httpAddr, "--networks", "*")
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	file := filepath.Join("..", "..", "testdata", "networks", "weather.yaml")
	if out, errOut, code := runCmd(t, dpropBin, "network", "apply", "--nats-url", natsURL, file); code != 0 {
		t.Fatalf("network apply: %d %s %s", code, out, errOut)
	}
	natsPub(t, natsURL, "weather.boston.temp_f", seedDays[0])
	net := b.ctx
	b.do(net, "opening the network view", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(api+"/ui/#/network"),
		chromedp.WaitVisible(`#networks [data-network="weather"] table.templates`))
	eval[bool](b, net, `window.notReloaded = true`)
	// instances and running here are the last two columns of the row.
	row := `(t => [...document.querySelectorAll('#networks [data-network="weather"] tbody tr')].find(r => r.cells[0].textContent === t))`
	counts := func(tmpl string, n int) string {
		return fmt.Sprintf(`(r => r && r.cells[3].textContent === '%d' && r.cells[4].textContent === '%d')(%s(%q))`, n, n, row, tmpl)
	}
	b.waitUntil(net, "one conversion instance", counts("f-to-c.<city>", 1), 15*time.Second)
	natsPub(t, natsURL, "weather.lima.temp_f", seedDays[1])
	b.waitUntil(net, "two conversion instances after a new city, without a reload", counts("f-to-c.<city>", 2)+` && window.notReloaded`, 15*time.Second)
	if !eval[bool](b, net, `document.querySelector('#graph').textContent.includes('no network file')`) {
		t.Error("the view does not say there is no network file to draw")
	}
}
