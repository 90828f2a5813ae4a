package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestDiffStream(t *testing.T) {
	base := StreamConfig{}
	if err := base.validate(); err != nil {
		t.Fatal(err)
	}
	want := base.jetStreamConfig()

	// What the server reports back for the stream it made from want.
	same := want
	same.MaxBytes, same.MaxMsgs, same.MaxMsgsPerSubject = -1, -1, -1
	same.Description = "changed by an operator"
	same.Compression = jetstream.S2Compression
	same.AllowRollup = true // a stream of an earlier dprop: used as it is
	if d := diffStream(want, same); len(d) != 0 {
		t.Errorf("differences in a compatible stream: %v", d)
	}

	tests := []struct {
		field  string
		change func(*jetstream.StreamConfig)
	}{
		{"subjects", func(c *jetstream.StreamConfig) { c.Subjects = []string{"dprop.>"} }},
		{"retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.WorkQueuePolicy }},
		{"storage", func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }},
		{"replicas", func(c *jetstream.StreamConfig) { c.Replicas = 3 }},
		{"discard policy", func(c *jetstream.StreamConfig) { c.Discard, c.MaxBytes = jetstream.DiscardOld, 1<<20 }},
		{"duplicate window", func(c *jetstream.StreamConfig) { c.Duplicates = time.Second }},
		{"max age", func(c *jetstream.StreamConfig) { c.MaxAge = time.Hour }},
		{"max messages", func(c *jetstream.StreamConfig) { c.MaxMsgs = 100 }},
		{"max messages per subject", func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 1 }},
		{"allow direct", func(c *jetstream.StreamConfig) { c.AllowDirect = false }},
		{"deny delete", func(c *jetstream.StreamConfig) { c.DenyDelete = true }},
		{"deny purge", func(c *jetstream.StreamConfig) { c.DenyPurge = true }},
		{"sealed", func(c *jetstream.StreamConfig) { c.Sealed = true }},
		{"no ack", func(c *jetstream.StreamConfig) { c.NoAck = true }},
		{"mirror", func(c *jetstream.StreamConfig) { c.Mirror = &jetstream.StreamSource{Name: "X"} }},
		{"subject transform", func(c *jetstream.StreamConfig) {
			c.SubjectTransform = &jetstream.SubjectTransformConfig{Source: ">", Destination: "x.>"}
		}},
		{"allow message counter", func(c *jetstream.StreamConfig) { c.AllowMsgCounter = true }},
	}
	for _, tt := range tests {
		got := want
		tt.change(&got)
		d := diffStream(want, got)
		if len(d) != 1 || d[0].Field != tt.field {
			t.Errorf("changing %s: differences %v", tt.field, d)
		}
	}
}

// A byte limit is a matter of configuration, not of compatibility: dprop
// works with a stream of any size as long as a full one refuses new
// updates. A stream without a limit may discard old ones: it never does.
func TestDiffStreamLimits(t *testing.T) {
	limited := StreamConfig{MaxBytes: 1 << 30}
	if err := limited.validate(); err != nil {
		t.Fatal(err)
	}
	want := limited.jetStreamConfig()
	if want.Discard != jetstream.DiscardNew || want.MaxBytes != 1<<30 {
		t.Fatalf("a stream with a byte limit: discard %v, max bytes %d", want.Discard, want.MaxBytes)
	}
	unlimited := StreamConfig{}
	if err := unlimited.validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		want       jetstream.StreamConfig
		maxBytes   int64
		discard    jetstream.DiscardPolicy
		compatible bool
		limitDiff  bool
	}{
		{"unlimited, discard old, of an earlier dprop", unlimited.jetStreamConfig(), -1, jetstream.DiscardOld, true, false},
		{"unlimited, discard new", unlimited.jetStreamConfig(), -1, jetstream.DiscardNew, true, false},
		{"limited as configured", want, 1 << 30, jetstream.DiscardNew, true, false},
		{"limited otherwise than configured", want, 2 << 30, jetstream.DiscardNew, true, true},
		{"unlimited where a limit is configured", want, -1, jetstream.DiscardOld, true, true},
		{"limited where none is configured", unlimited.jetStreamConfig(), 1 << 20, jetstream.DiscardNew, true, true},
		{"limited, discard old", want, 1 << 30, jetstream.DiscardOld, false, false},
		{"limited by another than configured, discard old", unlimited.jetStreamConfig(), 1 << 20, jetstream.DiscardOld, false, true},
	}
	for _, tt := range tests {
		got := tt.want
		got.MaxBytes, got.Discard = tt.maxBytes, tt.discard
		d := diffStream(tt.want, got)
		if tt.compatible != (len(d) == 0) {
			t.Errorf("%s: differences %v", tt.name, d)
		}
		if !tt.compatible && (len(d) != 1 || d[0].Field != "discard policy" || d[0].Got != "old") {
			t.Errorf("%s: differences %v, want the discard policy's alone", tt.name, d)
		}
		if l := limitDiffs(tt.want, got); tt.limitDiff != (len(l) == 1) {
			t.Errorf("%s: limit differences %v", tt.name, l)
		}
	}
}

func TestStreamConfigValidate(t *testing.T) {
	bad := []StreamConfig{
		{Prefix: "a..b"},
		{Prefix: "a.*"},
		{Prefix: "a b"},
		{Name: "A.B"},
		{Replicas: 2},
		{Duplicates: -time.Second},
		{MaxBytes: -1},
		{MaxAge: time.Minute, Duplicates: time.Hour},
	}
	for _, c := range bad {
		if err := c.validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	short := StreamConfig{MaxAge: time.Minute}
	if err := short.validate(); err != nil || short.Duplicates != time.Minute {
		t.Errorf("max age 1m: duplicate window %s, error %v; want 1m, nil", short.Duplicates, err)
	}
	good := StreamConfig{Replicas: 3}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	if good.Prefix != "dprop" || good.Name != "DPROP" || good.Duplicates != 2*time.Minute {
		t.Errorf("defaults not filled: %+v", good)
	}
}

func TestRetryable(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("stream X: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("stream X: %w", errCreateRace), true},
		{fmt.Errorf("x: %w", &jetstream.APIError{Code: 503, ErrorCode: jsClusterNotAvailable}), true},
		{fmt.Errorf("x: %w", &jetstream.APIError{Code: 500, ErrorCode: 10005}), false},
		{jetstream.ErrJetStreamNotEnabled, false},
		{errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := retryable(ctx, tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %t, want %t", tt.err, got, tt.want)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if retryable(done, context.DeadlineExceeded) {
		t.Error("retryable once the caller's context ended")
	}
}
