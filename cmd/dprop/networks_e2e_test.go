package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
)

// weatherK is testdata/networks/weather.yaml with one more output for each
// city: the range in kelvin.
const weatherK = `
cells:
  - {name: weather.<city>.temp_f, type: range}
  - {name: weather.<city>.temp_c, type: range}
  - {name: weather.<city>.temp_k, type: range}
  - {name: weather.hottest, type: max}
propagators:
  - {kind: linear, name: f-to-c.<city>, inputs: [weather.<city>.temp_f], outputs: [weather.<city>.temp_c], params: {k: 5/9, m: -160/9}}
  - {kind: linear, name: f-to-k.<city>, inputs: [weather.<city>.temp_f], outputs: [weather.<city>.temp_k], params: {k: 5/9, m: 45967/180}}
  - {kind: max, name: hottest, inputs: [weather.*.temp_c], outputs: [weather.hottest]}
`

// The networks of the log, end to end with the real binary and the real
// nats CLI: the temperature template applied with dprop network apply, 200
// cities appearing through nats pub, three replicas sharing the instances,
// one killed mid-run, every Celsius range right; then the network changed
// (a kelvin output for each city) and removed, and the replicas follow
// without a restart.
func TestEndToEndNetworksInTheLog(t *testing.T) {
	natsAddr := freePort(t)
	natsURL := "nats://" + natsAddr
	startDprop(t, "broker", "--data", t.TempDir(), "--nats-listen", natsAddr)
	brokertest.WaitFor(t, "the broker", func() bool {
		_, _, code := runCmd(t, natsBin, "-s", natsURL, "stream", "info", "DPROP")
		return code == 0
	})
	// A network that does not check is not applied: its problems, placed.
	invalid := filepath.Join("..", "..", "testdata", "networks", "invalid", "templates.yaml")
	if _, errOut, code := runCmd(t, dpropBin, "network", "apply", "--nats-url", natsURL, invalid); code != 1 ||
		!strings.Contains(errOut, "templates.yaml:22:15: output \"weather.<town>.temp_c\" uses <town>, which no input captures") {
		t.Fatalf("network apply of an invalid file: exit %d, %s", code, errOut)
	}
	file := filepath.Join("..", "..", "testdata", "networks", "weather.yaml")
	if out, errOut, code := runCmd(t, dpropBin, "network", "apply", "--nats-url", natsURL, file); code != 0 || !strings.Contains(out, "network weather applied") {
		t.Fatalf("network apply: %d %s %s", code, out, errOut)
	}
	var reps []*proc
	var apis []string
	for range 3 {
		addr := freePort(t)
		reps = append(reps, startDprop(t, "replica", "--nats-url", natsURL, "--http", addr, "--networks", "weather", "--heartbeat", "200ms"))
		apis = append(apis, "http://"+addr)
	}
	for _, api := range apis {
		brokertest.WaitFor(t, api+" to share the network with the two others", func() bool {
			n, ok := liveNetworks(t, api)["weather"]
			return ok && len(n.Members) == 3
		})
	}

	pub := func(prefix string, n int) {
		t.Helper()
		// The Fahrenheit range of city <prefix><i> is [i, 100i].
		if _, errOut, code := runCmd(t, natsBin, "-s", natsURL, "pub", "-q", "--count", fmt.Sprint(n),
			"dprop.cell.weather."+prefix+"{{Count}}.temp_f", `{"type":"range","min":{{Count}},"max":{{Count}}00}`); code != 0 {
			t.Fatalf("nats pub: %s", errOut)
		}
	}
	pub("a", 100)
	running := func(ids []int) (sum int) {
		for _, i := range ids {
			sum += liveNetworks(t, apis[i])["weather"].template("f-to-c.<city>").Running
		}
		return sum
	}
	brokertest.WaitFor(t, "100 instances running once across the replicas", func() bool { return running([]int{0, 1, 2}) == 100 })
	for i, api := range apis {
		if n := liveNetworks(t, api)["weather"].template("f-to-c.<city>").Running; n == 0 || n == 100 {
			t.Errorf("replica %d runs %d of 100 instances: not shared", i, n)
		}
	}

	killed := time.Now()
	reps[2].cmd.Process.Signal(syscall.SIGKILL)
	pub("b", 100)
	brokertest.WaitFor(t, "the two survivors to run all 200 instances", func() bool { return running([]int{0, 1}) == 200 })
	t.Logf("a killed replica's share ran elsewhere %v after the kill (heartbeat 200ms)", time.Since(killed).Round(time.Millisecond))
	for _, prefix := range []string{"a", "b"} {
		for i := 1; i <= 100; i++ {
			waitRange(t, apis[0], fmt.Sprintf("weather.%s%d.temp_c", prefix, i), celsius(i), celsius(100*i))
		}
	}
	waitRange(t, apis[1], "weather.hottest", math.NaN(), celsius(100*100))

	// The network changes: a kelvin output for each city, the rest as it was.
	changed := filepath.Join(t.TempDir(), "weather.yaml")
	if err := os.WriteFile(changed, []byte(weatherK), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCmd(t, dpropBin, "network", "apply", "--nats-url", natsURL, changed); code != 0 {
		t.Fatalf("network apply (changed): %d %s %s", code, out, errOut)
	}
	for _, prefix := range []string{"a", "b"} {
		for i := 1; i <= 100; i += 9 {
			waitRange(t, apis[1], fmt.Sprintf("weather.%s%d.temp_k", prefix, i), celsius(i)+273.15, celsius(100*i)+273.15)
		}
	}
	if out, _, code := runCmd(t, dpropBin, "network", "ls", "--nats-url", natsURL); code != 0 || !strings.Contains(out, "3 cell patterns, 0 propagators, 3 templates") ||
		strings.Contains(out, "templates.yaml") {
		t.Errorf("network ls after the change: %d %s", code, out)
	}
	if out, _, code := runCmd(t, dpropBin, "network", "get", "--nats-url", natsURL, "weather"); code != 0 || out != weatherK {
		t.Errorf("network get: %d %q", code, out)
	}

	// A definition that does not check, published behind apply's back (a
	// later clock than any apply's), is reported; the running one stays.
	broken := `{"type":"lww","ts":` + fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()) +
		`,"writer":"test","value":{"name":"weather","source":"cells: [oops"}}`
	if _, errOut, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell._dprop.network.weather", broken); code != 0 {
		t.Fatalf("nats pub: %s", errOut)
	}
	brokertest.WaitFor(t, "the replicas to report the broken definition", func() bool {
		return strings.Contains(reps[0].stderrText(), `msg="network in the log not loaded; the one running (if any) is kept" network=weather`)
	})
	if n := liveNetworks(t, apis[1])["weather"].template("f-to-k.<city>"); n.Instances != 200 {
		t.Errorf("after a broken definition: %+v, want the kelvin template still there", n)
	}

	if out, errOut, code := runCmd(t, dpropBin, "network", "rm", "--nats-url", natsURL, "weather"); code != 0 {
		t.Fatalf("network rm: %d %s %s", code, out, errOut)
	}
	for _, api := range apis[:2] {
		brokertest.WaitFor(t, api+" to stop the network", func() bool {
			_, ok := liveNetworks(t, api)["weather"]
			return !ok
		})
	}
	if _, _, code := runCmd(t, dpropBin, "network", "get", "--nats-url", natsURL, "weather"); code != 1 {
		t.Errorf("network get after rm: exit %d, want 1", code)
	}
	for _, p := range reps[:2] {
		p.stop(t)
	}
}

func celsius(f int) float64 { return float64(f-32) * 5 / 9 }

// liveNetworks returns what /readyz says of the live networks, by name.
func liveNetworks(t *testing.T, api string) map[string]netStatus {
	t.Helper()
	_, _, body := httpGet(t, api+"/readyz")
	var rd struct {
		Networks []netStatus `json:"networks"`
	}
	_ = json.Unmarshal([]byte(body), &rd)
	out := map[string]netStatus{}
	for _, n := range rd.Networks {
		out[n.Name] = n
	}
	return out
}

type netStatus replica.NetworkStatus

func (n netStatus) template(name string) replica.TemplateStatus {
	for _, t := range n.Templates {
		if t.Name == name {
			return t
		}
	}
	return replica.TemplateStatus{}
}

// waitRange waits until cell's value has the given bounds (a max cell:
// value; NaN min: only the max is compared), within a rounding error.
func waitRange(t *testing.T, api, cell string, lo, hi float64) {
	t.Helper()
	var last string
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }
	deadline := time.Now().Add(brokertest.Timeout)
	for {
		code, _, body := httpGet(t, api+"/v1/cells/"+cell)
		last = body
		var v struct {
			Min, Max, Value float64
		}
		if code == http.StatusOK && json.Unmarshal([]byte(body), &v) == nil {
			if math.IsNaN(lo) && near(v.Value, hi) || near(v.Min, lo) && near(v.Max, hi) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, want [%g, %g]", cell, last, lo, hi)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
