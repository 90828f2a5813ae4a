package replica

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ChangeTimes returns, for each cell, the time the stream stored its last
// change (the message at the cell's Seq), read from the stream one message
// at a time (a direct get where the stream allows it). A cell whose
// message the stream no longer holds (compacted, purged) or with no change
// gets the zero time. It stops at ctx's end, leaving the rest zero. The
// caller owns the slice.
func (r *Replica) ChangeTimes(ctx context.Context, seqs []uint64) ([]time.Time, error) {
	out := make([]time.Time, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	st, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return out, err
	}
	for i, seq := range seqs {
		if seq == 0 {
			continue
		}
		m, err := st.GetMsg(ctx, seq)
		switch {
		case err == nil:
			out[i] = m.Time
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case ctx.Err() != nil:
			return out, ctx.Err()
		default:
			return out, err
		}
	}
	return out, nil
}
