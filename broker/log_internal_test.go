package broker

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// records keeps what is logged (a package test cannot use brokertest, which
// imports this package).
type records struct{ recs []slog.Record }

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func attr(rec slog.Record, key string) string {
	var v string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// The server's start banner, as nats-server 2.15 logs it.
var banner = []string{
	"Starting nats-server",
	"  Version:  2.15.2",
	"  Git:      [not set]",
	"  Cluster:  dprop-test",
	"  Name:     n1",
	"  Node:     fjFyEjc1",
	"  ID:       NBSHIVEGQ54K6R7UDLIGSWXX6XLT5U2Q6BX6IU4UIUYIJG5A2TN5RLU2",
	"Starting JetStream",
	"    _ ___ _____ ___ _____ ___ ___   _   __  __",
	" _ | | __|_   _/ __|_   _| _ \\ __| /_\\ |  \\/  |",
	"",
	"         https://docs.nats.io/jetstream",
	"",
	"---------------- JETSTREAM ----------------",
	"  Strict:          true",
	"  Max Memory:      17.66 GB",
	"  Max Storage:     55.93 GB",
	`  Store Directory: "/tmp/x/jetstream"`,
	"  API Level:       5",
	"-------------------------------------------",
	"Starting JetStream cluster",
}

func TestLogBanner(t *testing.T) {
	rec := &records{}
	l := newSlogLogger(slog.New(rec))
	for _, line := range banner {
		l.Noticef("%s", line)
	}
	all := rec.recs
	var msgs []string
	for _, r := range all {
		msgs = append(msgs, r.Message)
	}
	if got := strings.Join(msgs, " | "); got != "nats-server starting | jetstream started | Starting JetStream cluster" {
		t.Fatalf("records: %s", got)
	}
	for key, want := range map[string]string{"version": "2.15.2", "name": "n1", "cluster": "dprop-test"} {
		if got := attr(all[0], key); got != want {
			t.Errorf("server banner %s = %q, want %q", key, got, want)
		}
	}
	for key, want := range map[string]string{"max_memory": "17.66 GB", "store_directory": "/tmp/x/jetstream", "api_level": "5"} {
		if got := attr(all[1], key); got != want {
			t.Errorf("jetstream banner %s = %q, want %q", key, got, want)
		}
	}
}

// A route that stays unreachable is logged once a minute at Warn with the
// attempts in between, not an Error a second; a forming cluster's waiting
// is Info.
func TestLogRoutesAndForming(t *testing.T) {
	rec := &records{}
	l := newSlogLogger(slog.New(rec))
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	for i := 1; i <= 120; i++ {
		l.Errorf("Error trying to connect to route (attempt %d): dial tcp 10.0.0.3:6222: connect: connection refused", i)
		now = now.Add(time.Second)
	}
	l.Warnf("Waiting for routing to be established...")
	l.Warnf("JetStream has not established contact with a meta leader")
	var routes []slog.Record
	for _, r := range rec.recs {
		switch {
		case r.Message == "cannot reach a route; retrying":
			routes = append(routes, r)
			if r.Level != slog.LevelWarn || attr(r, "route") != "10.0.0.3:6222" {
				t.Errorf("route record: %v %v", r.Level, r.Message)
			}
		case r.Level >= slog.LevelWarn:
			t.Errorf("%v: %s", r.Level, r.Message)
		}
	}
	if len(routes) != 2 || attr(routes[0], "attempts") != "1" || attr(routes[1], "attempts") != "60" {
		t.Fatalf("%d route records (want 2: the first attempt, then 60 a minute later)", len(routes))
	}
}
