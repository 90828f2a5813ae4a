package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
)

// DefaultDuplicates is StreamConfig's default duplicate window. The
// default prefix and stream name are cellname.DefaultPrefix and
// cellname.DefaultStream.
const DefaultDuplicates = 2 * time.Minute

// StreamConfig describes the stream that keeps the log of cell updates.
type StreamConfig struct {
	// Prefix is the first token(s) of every cell subject; the stream
	// captures Prefix + ".cell.>". Default cellname.DefaultPrefix.
	Prefix string

	// Name is the stream's name. Default cellname.DefaultStream.
	Name string

	// Replicas is how many servers keep a copy of the stream: 1, or 3 in
	// a cluster of three servers or more. Default 1.
	Replicas int

	// Duplicates is the window within which a publish that repeats an
	// earlier Nats-Msg-Id is stored only once. Default DefaultDuplicates,
	// or MaxAge if that is shorter; it may not be longer than MaxAge.
	Duplicates time.Duration

	// MaxAge drops updates older than this. Zero: kept for ever. Only safe
	// when cells are compacted (rolled up) more often than MaxAge.
	MaxAge time.Duration

	// MaxBytes bounds the stream's size (on each server that keeps a
	// copy). A full stream refuses new updates (discard new): the
	// publisher gets an error (JetStream's 503 "maximum bytes exceeded",
	// code 10077) and nothing already stored is dropped, so no update that
	// was acknowledged is ever lost to the limit. Compaction frees room,
	// but needs some itself (it publishes each cell's join before it
	// purges what the join replaces): keep the limit well above the size
	// of the compacted log. JetStream reserves MaxBytes on every server
	// that keeps a copy when the stream is created, so it must fit in
	// their Config.JetStreamMaxStore. Zero: unlimited (the servers' store
	// limit then applies to the stream as a whole).
	MaxBytes int64
}

// validate checks c and fills its defaults.
func (c *StreamConfig) validate() error {
	if c.Prefix == "" {
		c.Prefix = cellname.DefaultPrefix
	}
	if c.Name == "" {
		c.Name = cellname.DefaultStream
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
		if c.MaxAge > 0 && c.MaxAge < c.Duplicates {
			c.Duplicates = c.MaxAge // as nats-server does
		}
	}
	for tok := range strings.SplitSeq(c.Prefix, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("subject prefix %q: want dot-separated tokens without spaces, '*' or '>'", c.Prefix)
		}
	}
	if c.Name == "" || strings.ContainsAny(c.Name, ".*>/\\ \t\r\n") {
		return fmt.Errorf("stream name %q: must not contain '.', '*', '>', slashes or spaces", c.Name)
	}
	if c.Replicas != 1 && c.Replicas != 3 {
		return fmt.Errorf("stream replicas %d: want 1 or 3", c.Replicas)
	}
	if c.Duplicates < 0 || c.MaxAge < 0 || c.MaxBytes < 0 {
		return errors.New("negative duplicate window, max age or max bytes")
	}
	if c.MaxAge > 0 && c.Duplicates > c.MaxAge {
		return fmt.Errorf("duplicate window %s is longer than max age %s", c.Duplicates, c.MaxAge)
	}
	return nil
}

// jetStreamConfig is the stream configuration c asks for. c is valid.
//
// A full stream refuses new updates rather than drop old ones (discard
// new), even without a byte limit, so that a limit set later (nats stream
// edit) never drops an acknowledged update. Rollups are denied (any
// writer could erase a cell's history with one header; compaction purges
// instead, as admin); direct get lets any
// replica answer reads of single messages; the duplicate
// window makes retried publishes carrying Nats-Msg-Id harmless. Deleting
// and purging stay allowed so that operators can repair the log.
func (c *StreamConfig) jetStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              c.Name,
		Description:       "dprop cell updates",
		Subjects:          cellname.NewSubjects(c.Prefix).Stream(),
		Retention:         jetstream.LimitsPolicy,
		MaxConsumers:      -1,
		MaxMsgs:           -1,
		MaxBytes:          limit(c.MaxBytes),
		MaxMsgsPerSubject: -1,
		MaxAge:            c.MaxAge,
		Discard:           jetstream.DiscardNew,
		Storage:           jetstream.FileStorage,
		Replicas:          c.Replicas,
		Duplicates:        c.Duplicates,
		AllowRollup:       false,
		AllowDirect:       true,
		DenyDelete:        false,
		DenyPurge:         false,
	}
}

// limit spells "unlimited" the way JetStream does.
func limit(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// ErrIncompatibleStream is matched (errors.Is) by the
// *IncompatibleStreamError EnsureStream returns when the stream exists
// with settings dprop cannot work with.
var ErrIncompatibleStream = errors.New("stream exists with incompatible settings")

// IncompatibleStreamError says how an existing stream differs from the
// stream EnsureStream would have made.
type IncompatibleStreamError struct {
	Stream string
	Diffs  []StreamDiff
}

// StreamDiff is one setting of an existing stream that is not what dprop
// expects.
type StreamDiff struct {
	Field string // as `nats stream info` names it, e.g. "max age"
	Want  string
	Got   string
}

func (e *IncompatibleStreamError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stream %s exists with incompatible settings: ", e.Stream)
	for i, d := range e.Diffs {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s is %s, expected %s", d.Field, d.Got, d.Want)
	}
	b.WriteString(" (change the stream or the configuration; dprop does not change an existing stream)")
	return b.String()
}

// Is reports whether target is ErrIncompatibleStream.
func (e *IncompatibleStreamError) Is(target error) bool { return target == ErrIncompatibleStream }

// EnsureStream makes sure the stream cfg describes exists, creating it if
// need be, and returns it.
//
// If the stream exists with settings dprop can work with, it is used as it
// is; if not, EnsureStream returns an *IncompatibleStreamError (matching
// ErrIncompatibleStream) naming every setting that differs, and changes
// nothing. Several processes may call it at once: the ones that lose the
// race to create the stream use the winner's.
//
// Each request to JetStream gets a few seconds; one that goes unanswered
// (lost while a client reconnects or a leader moves), or that a cluster
// answers with "temporarily unavailable", is tried again until ctx ends.
// Other errors, such as a cluster too small for cfg.Replicas, are
// returned at once.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("broker: stream: %w", err)
	}
	want := cfg.jetStreamConfig()
	retry := time.NewTicker(retryPause)
	defer retry.Stop()
	for {
		stream, err := ensureStreamOnce(ctx, js, want)
		if err == nil {
			return stream, nil
		}
		if !retryable(ctx, err) {
			return nil, fmt.Errorf("broker: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("broker: stream %s: %w (last attempt: %w)", want.Name, ctx.Err(), err)
		case <-retry.C:
		}
	}
}

const (
	// apiAttempt bounds one JetStream API request made by EnsureStream.
	apiAttempt = 5 * time.Second
	// retryPause separates EnsureStream's attempts.
	retryPause = 100 * time.Millisecond
)

// errCreateRace says that the stream was created by someone else between
// our look-up and our create.
var errCreateRace = errors.New("stream created concurrently")

// ensureStreamOnce looks the stream up, and creates it if it is not there.
func ensureStreamOnce(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	attempt, cancel := context.WithTimeout(ctx, apiAttempt)
	defer cancel()
	stream, err := js.Stream(attempt, want.Name)
	if err == nil {
		if stream, err = checkStream(stream, want); err == nil {
			stream = upgradeSubjects(ctx, js, stream, want)
		}
		return stream, err
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s: %w", want.Name, err)
	}

	attempt, cancel = context.WithTimeout(ctx, apiAttempt)
	defer cancel()
	stream, err = js.CreateStream(attempt, want)
	switch {
	case err == nil:
		return stream, nil
	case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
		return nil, fmt.Errorf("stream %s: %w", want.Name, errCreateRace)
	default:
		return nil, fmt.Errorf("create stream %s on %s: %w", want.Name, want.Subjects[0], err)
	}
}

// jsClusterNotAvailable is JetStream's error code for "JetStream system
// temporarily unavailable", given while a cluster elects its leaders.
const jsClusterNotAvailable = 10008

// retryable reports whether err, from an attempt made under ctx, is worth
// another attempt.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var apiErr *jetstream.APIError
	return errors.Is(err, errCreateRace) ||
		errors.Is(err, context.DeadlineExceeded) || // the attempt's own deadline
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jsClusterNotAvailable)
}

// checkStream returns stream if its settings are compatible with want.
func checkStream(stream jetstream.Stream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	info := stream.CachedInfo()
	if diffs := diffStream(want, info.Config); len(diffs) > 0 {
		return nil, &IncompatibleStreamError{Stream: want.Name, Diffs: diffs}
	}
	return stream, nil
}

// upgradeSubjects makes a stream of an earlier dprop, which captures cell
// updates only, capture forget markers too (an additive change: nothing
// in it changes meaning). It needs the right to edit the stream; without
// it, or if the edit fails, the stream is returned as it was, and
// forgetting cells waits for an admin (see CapturesForget).
func upgradeSubjects(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, want jetstream.StreamConfig) jetstream.Stream {
	cfg := stream.CachedInfo().Config
	if !legacySubjects(want.Subjects, cfg.Subjects) {
		return stream
	}
	cfg.Subjects = want.Subjects
	attempt, cancel := context.WithTimeout(ctx, apiAttempt)
	defer cancel()
	if upgraded, err := js.UpdateStream(attempt, cfg); err == nil {
		return upgraded
	}
	return stream
}

// legacySubjects reports whether got is the subjects of an earlier dprop's
// stream: want's first (the cell updates) alone.
func legacySubjects(want, got []string) bool {
	return len(got) == 1 && len(want) > 1 && got[0] == want[0]
}

// CapturesForget reports whether a stream made by EnsureStream captures
// forget markers: a stream of an earlier dprop does not until an admin's
// EnsureStream (dprop broker, dprop up) upgrades it.
func CapturesForget(info *jetstream.StreamInfo, prefix string) bool {
	want := cellname.NewSubjects(prefix).Stream()
	return !legacySubjects(want, info.Config.Subjects)
}

// diffStream lists the settings of got that differ from want in a way
// that matters to dprop. Settings that don't (description, compression,
// metadata, consumer limits, ...) are not compared, nor is the byte limit
// (dprop works with any: see limitDiffs).
//
// The discard policy matters only where there is something to discard: a
// stream with a byte or message limit must refuse new updates when full
// (discard new), since discarding old ones would silently lose
// acknowledged updates; a stream without one never discards, so either
// policy will do (earlier versions of dprop made theirs with discard
// old).
func diffStream(want, got jetstream.StreamConfig) []StreamDiff {
	var diffs []StreamDiff
	check := func(field string, w, g any) {
		ws, gs := fmt.Sprint(w), fmt.Sprint(g)
		if ws != gs {
			diffs = append(diffs, StreamDiff{Field: field, Want: ws, Got: gs})
		}
	}
	wantSubjects, gotSubjects := slices.Sorted(slices.Values(want.Subjects)), slices.Sorted(slices.Values(got.Subjects))
	if !legacySubjects(want.Subjects, got.Subjects) { // an earlier dprop's stream is upgraded instead
		check("subjects", wantSubjects, gotSubjects)
	}
	check("retention", want.Retention, got.Retention)
	check("storage", want.Storage, got.Storage)
	check("replicas", max(want.Replicas, 1), max(got.Replicas, 1))
	if (got.MaxBytes > 0 || got.MaxMsgs > 0) && got.Discard != jetstream.DiscardNew {
		diffs = append(diffs, StreamDiff{Field: "discard policy", Want: "new (the stream has a size limit: discarding old updates would lose them)",
			Got: discardText(got.Discard)})
	}
	check("duplicate window", want.Duplicates, got.Duplicates)
	check("max age", ageText(want.MaxAge), ageText(got.MaxAge))
	check("max messages", limitText(want.MaxMsgs), limitText(got.MaxMsgs))
	check("max messages per subject", limitText(want.MaxMsgsPerSubject), limitText(got.MaxMsgsPerSubject))
	// Rollups: either works (see KeepStream's warning), so they are not
	// compared.
	check("allow direct", want.AllowDirect, got.AllowDirect)
	check("deny delete", want.DenyDelete, got.DenyDelete)
	check("deny purge", want.DenyPurge, got.DenyPurge)
	check("sealed", want.Sealed, got.Sealed)
	check("no ack", want.NoAck, got.NoAck)
	check("mirror", want.Mirror != nil, got.Mirror != nil)
	check("subject transform", want.SubjectTransform != nil, got.SubjectTransform != nil)
	check("allow message counter", want.AllowMsgCounter, got.AllowMsgCounter)
	return diffs
}

// limitDiffs lists the limits of got that differ from want but that dprop
// works with all the same: the byte limit. An existing stream is not
// changed, so the caller says how to change it.
func limitDiffs(want, got jetstream.StreamConfig) []StreamDiff {
	if w, g := limitText(want.MaxBytes), limitText(got.MaxBytes); w != g {
		return []StreamDiff{{Field: "max bytes", Want: w, Got: g}}
	}
	return nil
}

func discardText(p jetstream.DiscardPolicy) string {
	switch p {
	case jetstream.DiscardOld:
		return "old"
	case jetstream.DiscardNew:
		return "new"
	}
	return p.String()
}

func limitText(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func ageText(d time.Duration) string {
	if d <= 0 {
		return "unlimited"
	}
	return d.String()
}
