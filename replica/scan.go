package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// scan reads the messages on filter in stream order, from the start, up to
// the last one present when it begins, calling fn for each until fn returns
// false. It is the read loop of history and replay, which look at the log
// once rather than follow it.
func scan(ctx context.Context, js jetstream.JetStream, streamName, filter string, fn func(jetstream.Msg, *jetstream.MsgMetadata) bool) (*jetstream.StreamInfo, error) {
	stream, err := js.Stream(ctx, streamName)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("%w: %q", ErrNoStream, streamName)
		}
		return nil, fmt.Errorf("stream %q: %w", streamName, err)
	}
	last, err := lastSeq(ctx, stream, filter)
	if err != nil || last == 0 {
		return stream.CachedInfo(), err
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("ordered consumer on %q: %w", filter, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("consume %q: %w", filter, err)
	}
	defer msgs.Stop()
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	for {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("reading %q: %w", filter, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("reading %q: %w", filter, err)
		}
		if !fn(m, meta) || meta.Sequence.Stream >= last {
			return stream.CachedInfo(), nil
		}
	}
}

// isRollup reports whether m is a compaction's rollup or checkpoint: once
// the compaction is complete, the log of its cell starts with it.
func isRollup(m jetstream.Msg) bool {
	h := m.Headers()
	return h != nil && (h.Get(jetstream.MsgRollup) != "" || h.Get(HeaderCheckpoint) != "")
}
