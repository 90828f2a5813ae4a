package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultKeepEvery is how often KeepStream checks that its stream exists,
// besides listening for JetStream's deletion advisories.
const DefaultKeepEvery = 5 * time.Second

// streamLimitDiffers is KeepStream's warning about a stream whose byte
// limit is not the configured one.
const streamLimitDiffers = "the stream's limit is not the configured one; dprop does not change an existing stream"

// KeepStream provisions the stream cfg describes, retrying while the
// server or cluster cannot hold it yet, and then keeps it: whenever the
// stream is found deleted — JetStream's deletion advisory says so, or a
// check every `every` (DefaultKeepEvery if zero) does not find it — it is
// provisioned again and the deletion is logged at ERROR. Replicas notice
// the new stream by themselves (see package replica).
//
// A stream whose byte limit is not cfg.MaxBytes is kept as it is, with a
// warning that says how to change it.
//
// It returns nil when ctx ends, or an error matching ErrIncompatibleStream
// if the stream exists with settings dprop cannot work with (it changes
// nothing then). logger may be nil.
func KeepStream(ctx context.Context, nc *nats.Conn, cfg StreamConfig, every time.Duration, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("broker: stream: %w", err)
	}
	if every <= 0 {
		every = DefaultKeepEvery
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("broker: jetstream: %w", err)
	}
	deleted := make(chan struct{}, 1)
	advisory := "$JS.EVENT.ADVISORY.STREAM.DELETED." + cfg.Name
	sub, err := nc.Subscribe(advisory, func(*nats.Msg) {
		select {
		case deleted <- struct{}{}:
		default:
		}
	})
	if err != nil {
		logger.Warn("cannot listen for stream deletions; checking every few seconds only", "subject", advisory, "err", err)
	} else {
		defer sub.Unsubscribe()
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	provisioned, wait := false, 500*time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		stream, err := EnsureStream(attempt, js, cfg)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrIncompatibleStream):
			logger.Error("stream exists with other settings; not changed", "err", err)
			return err
		case err != nil:
			logger.Info("stream not provisioned yet; retrying", "stream", cfg.Name, "err", err, "retry_in", wait)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
			continue
		case !provisioned:
			logger.Info("stream ready", "stream", cfg.Name, "replicas", cfg.Replicas, "max_bytes", limitText(stream.CachedInfo().Config.MaxBytes))
			provisioned = true
			if !CapturesForget(stream.CachedInfo(), cfg.Prefix) {
				logger.Warn("the stream does not capture forget markers and could not be upgraded to (this connection may not edit it): "+
					"forgetting cells needs an admin's dprop broker or dprop up to run once", "stream", cfg.Name, "subjects", stream.CachedInfo().Config.Subjects)
			}
			for _, d := range limitDiffs(cfg.jetStreamConfig(), stream.CachedInfo().Config) {
				logger.Warn(streamLimitDiffers, "stream", cfg.Name, "setting", d.Field, "is", d.Got, "configured", d.Want,
					"to_change", fmt.Sprintf("nats stream edit %s --max-bytes %d", cfg.Name, limit(cfg.MaxBytes)))
			}
			if stream.CachedInfo().Config.AllowRollup {
				logger.Warn("the stream allows rollups: any writer of a cell can erase its history with a Nats-Rollup header. "+
					"dprop no longer needs them: nats stream edit "+cfg.Name+" --no-allow-rollup", "stream", cfg.Name)
			}
		}
		wait = 500 * time.Millisecond
		if !waitDeleted(ctx, js, cfg.Name, deleted, tick.C) {
			return nil
		}
		logger.Error("stream deleted; provisioning it again. Replicas set their state aside and replay the new stream: "+
			"restore the cells from a sidecar's snapshot with `dprop restore` (docs/recovery.md)", "stream", cfg.Name)
	}
}

// waitDeleted returns true once the stream is found missing, and false when
// ctx ends.
func waitDeleted(ctx context.Context, js jetstream.JetStream, name string, deleted <-chan struct{}, tick <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deleted:
		case <-tick:
		}
		attempt, cancel := context.WithTimeout(ctx, apiAttempt)
		_, err := js.Stream(attempt, name)
		cancel()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return true
		}
	}
}
