package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// The barometer with premises through the real binary and the real nats
// CLI: a supported cell reads as its strongest consequence with its
// support, withdraw and reinstate change it for the network, a claim
// published with nats pub that no height can match is recorded as a
// nogood, and why explains a derived cell from the log.
func TestEndToEndPremises(t *testing.T) {
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	file := filepath.Join("..", "..", "testdata", "networks", "barometer-premises.yaml")
	p := startDprop(t, "up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http", httpAddr, "--network", file)
	defer p.stop(t)
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	dprop := func(args ...string) (string, string) {
		t.Helper()
		out, errOut, code := runCmd(t, dpropBin, append(args[:1:1], append([]string{"--url", api}, args[1:]...)...)...)
		if code != 0 {
			t.Fatalf("dprop %s: exit %d: %s %s", strings.Join(args, " "), code, out, errOut)
		}
		return out, errOut
	}
	waitHeight := func(value, support string) {
		t.Helper()
		var out, errOut string
		brokertest.WaitFor(t, "building.height "+value+" on "+support, func() bool {
			out, errOut = dprop("get", "building.height")
			return strings.Contains(out, value) && strings.Contains(errOut, "support: "+support+"\n")
		})
	}
	waitHeight(`{"type":"interval","lo":45,"hi":45}`, "superintendent")

	out, _ := dprop("withdraw", "superintendent")
	if !strings.Contains(out, "superintendent  false") || !strings.Contains(out, "no nogoods") {
		t.Errorf("withdraw:\n%s", out)
	}
	waitHeight(`"lo":44.513513513513`, "fall-time, shadows")
	// A what-if read changes nothing.
	if out, errOut := dprop("get", "--worldview", "+superintendent", "building.height"); !strings.Contains(out, `"lo":45,"hi":45`) || !strings.Contains(errOut, "support: superintendent") {
		t.Errorf("what if: %s %s", out, errOut)
	}
	dprop("reinstate", "superintendent")
	waitHeight(`{"type":"interval","lo":45,"hi":45}`, "superintendent")
	// A claim written with --premises: the janitor says 45.5 m; he and
	// the superintendent cannot both be right.
	if out, errOut := dprop("refine", "--premises", "janitor", "building.height", `{"type":"interval","lo":45.5,"hi":45.5}`); !strings.Contains(out, `"premises":["janitor"]`) {
		t.Errorf("refine --premises: %s %s", out, errOut)
	}
	if _, errOut := dprop("get", "building.height"); !strings.Contains(errOut, "premises in conflict (a nogood): janitor, superintendent") {
		t.Errorf("two witnesses: %s", errOut)
	}
	dprop("withdraw", "janitor")
	if _, errOut, code := runCmd(t, dpropBin, "refine", "--url", api, "--premises", "two words", "building.height", `{"type":"interval","lo":1,"hi":2}`); code != 2 || !strings.Contains(errOut, `"two words"`) {
		t.Errorf("a bad premise: exit %d: %s", code, errOut)
	}

	// Every claim as stored, publishable again.
	if out, _ := dprop("get", "--stored", "fall.time"); !strings.HasPrefix(out, `{"type":"supported","values":[{"premises":["fall-time"]`) {
		t.Errorf("stored: %s", out)
	}

	// A plain nats pub of a claim that contradicts the stopwatch.
	if _, errOut, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell.fall.time",
		`{"type":"supported","values":[{"premises":["cheap-stopwatch"],"value":{"type":"interval","lo":1,"hi":1.1}}]}`); code != 0 {
		t.Fatalf("nats pub: %s", errOut)
	}
	brokertest.WaitFor(t, "the nogood", func() bool {
		out, _ := dprop("premises")
		return strings.Contains(out, "cheap-stopwatch, fall-time  ← all believed now")
	})
	if _, errOut := dprop("get", "fall.time"); !strings.Contains(errOut, "premises in conflict (a nogood): cheap-stopwatch, fall-time") {
		t.Errorf("contradicted read: %s", errOut)
	}
	if _, body := httpGetBody(t, api+"/readyz"); !strings.Contains(body, `"inconsistent":[["cheap-stopwatch","fall-time"]]`) {
		t.Errorf("readyz: %s", body)
	}

	// Why the square of the fall time is what it is.
	out, _ = dprop("why", "--depth", "2", "fall.time_sq")
	for _, want := range []string{"fall.time_sq = ", "derived by fall-time-squared", "    fall.time = ", "written by"} {
		if !strings.Contains(out, want) {
			t.Errorf("why does not say %q:\n%s", want, out)
		}
	}
}

func httpGetBody(t *testing.T, url string) (int, string) {
	t.Helper()
	code, _, body := httpGet(t, url)
	return code, body
}

// Supported cells no network reads, written with the real nats CLI: dprop
// watch prints a cell's consequence again when a premise is withdrawn, and
// two claims that cannot both hold are recorded as a nogood by the sidecar.
func TestEndToEndSupportedWithoutNetwork(t *testing.T) {
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	p := startDprop(t, "up", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http", httpAddr)
	defer p.stop(t)
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	pub := func(cell, claims string) {
		t.Helper()
		if _, errOut, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell."+cell, claims); code != 0 {
			t.Fatalf("nats pub: %s", errOut)
		}
	}
	dprop := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCmd(t, dpropBin, append(args[:1:1], append([]string{"--url", api}, args[1:]...)...)...)
		if code != 0 {
			t.Fatalf("dprop %s: exit %d: %s %s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}

	pub("probe.temp", `{"type":"supported","values":[{"premises":["coarse"],"value":{"type":"interval","lo":1,"hi":10}},`+
		`{"premises":["fine"],"value":{"type":"interval","lo":2,"hi":3}}]}`)
	w := startDprop(t, "watch", "--url", api, "probe.temp")
	defer w.stop(t)
	fine := "probe.temp\t{\"type\":\"interval\",\"lo\":2,\"hi\":3}\tsupport: fine\n"
	coarse := "probe.temp\t{\"type\":\"interval\",\"lo\":1,\"hi\":10}\tsupport: coarse\n"
	brokertest.WaitFor(t, "the watch to print the consequence", func() bool { return w.stdoutText() == fine })
	dprop("withdraw", "fine")
	brokertest.WaitFor(t, "the watch to print the consequence without fine", func() bool { return w.stdoutText() == fine+coarse })

	pub("probe.wind", `{"type":"supported","values":[{"premises":["vane"],"value":{"type":"interval","lo":1,"hi":2}}]}`)
	pub("probe.wind", `{"type":"supported","values":[{"premises":["anemometer"],"value":{"type":"interval","lo":5,"hi":6}}]}`)
	brokertest.WaitFor(t, "the nogood", func() bool {
		return strings.Contains(dprop("premises"), "anemometer, vane  ← all believed now")
	})
	if _, body := httpGetBody(t, api+"/readyz"); !strings.Contains(body, `"inconsistent":[["anemometer","vane"]]`) {
		t.Errorf("readyz: %s", body)
	}
}
