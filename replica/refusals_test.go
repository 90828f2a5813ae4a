package replica_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/httpapi"
)

// Thousands of bad updates to distinct cells make a handful of log lines,
// not thousands: a few warnings, then one line saying how many more were
// refused, by reason. The counts stay exact in Stats and in the metric.
func TestRefusalFloodIsNotLogged(t *testing.T) {
	defer replica.SetRefusalWarnings(time.Hour, 10)()
	rec := new(brokertest.Recorder)
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL(), func(c *replica.Config) { c.Logger = slog.New(rec) })
	reg := prometheus.NewRegistry()
	httpapi.New(r, httpapi.Options{Registry: reg, Logger: testLogger()})

	js, err := jetstream.New(connect(t, srv.ClientURL()), jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		t.Fatal(err)
	}
	const malformed, unknown = 4900, 100
	for i := range malformed + unknown {
		payload := `{"type":"max","value":`
		if i >= malformed {
			payload = `{"type":"bogus"}`
		}
		if _, err := js.PublishAsync(fmt.Sprintf("dprop.cell.flood.c%d", i), []byte(payload)); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 { // never more in flight than the client allows
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(testTimeout):
				t.Fatal("publishes not acknowledged")
			}
		}
	}
	refused := func() (n uint64) {
		for _, reasons := range r.Stats().Refused {
			for _, k := range reasons {
				n += k
			}
		}
		return n
	}
	waitFor(t, "every bad update refused", func() bool { return refused() == malformed+unknown })

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	metric := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "dprop_updates_refused_total" {
			for _, m := range mf.GetMetric() {
				metric[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if metric[fold.ReasonMalformed] != malformed || metric[fold.ReasonUnknownType] != unknown {
		t.Fatalf("dprop_updates_refused_total %v, want %d malformed_json and %d unknown_type", metric, malformed, unknown)
	}

	r.Close() // writes the summary of the window
	if n := len(rec.Matching(slog.LevelWarn, replica.MsgRefused)); n != 10 {
		t.Errorf("%d warnings of refused updates, want 10", n)
	}
	sums := rec.Matching(slog.LevelWarn, replica.MsgRefusedUnwarn)
	if len(sums) != 1 {
		t.Fatalf("%d summaries, want 1", len(sums))
	}
	total, _ := brokertest.AttrValue(sums[0], "not_warned")
	byReason, _ := brokertest.AttrValue(sums[0], "by_reason")
	counts := map[string]uint64{}
	for _, a := range byReason.Group() {
		counts[a.Key] = a.Value.Uint64()
	}
	if total.Uint64() != malformed+unknown-10 || counts[fold.ReasonMalformed]+counts[fold.ReasonUnknownType] != total.Uint64() {
		t.Fatalf("summary: %d not warned, by reason %v; want %d", total.Uint64(), counts, malformed+unknown-10)
	}
	if n := len(rec.Matching(slog.LevelDebug, replica.MsgRefused)); n != malformed+unknown-10 {
		t.Errorf("%d refusals at debug level, want %d", n, malformed+unknown-10)
	}
}
