package replica

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// RestoreStats says what a restore did.
type RestoreStats struct {
	Cells     int // cells in the snapshot matching the pattern
	Published int // values published and acknowledged
	Failed    int
	// TooLarge values would be refused as one update (past the default
	// decoding limits or the broker's payload limit); they are not
	// published.
	TooLarge int
}

// Restore publishes the values of cells (from a snapshot file) back as
// ordinary refinements of their cells under prefix, for those matching
// pattern ("" for all). Because merges are idempotent this is safe at any
// time: on a live network it adds only what the cells lack, and after the
// loss of the stream it rebuilds them. A restore can only add information,
// never take it away: restoring an older snapshot changes nothing a cell
// already knows.
//
// Each message carries a Nats-Msg-Id derived from the cell and its value,
// so a restore retried within the stream's duplicate window is stored once.
// With sign (nil for none) each message is signed: under a trust policy,
// the values of protected cells count only if signed by a key trusted
// there. The first publish error is returned after every cell was tried.
func Restore(ctx context.Context, nc *nats.Conn, prefix string, cells []fold.Cell, pattern string, sign Signer) (RestoreStats, error) {
	var st RestoreStats
	if pattern == "" {
		pattern = ">"
	}
	if err := cellname.ValidatePattern(pattern); err != nil {
		return st, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		return st, fmt.Errorf("restore: %w", err)
	}
	subjects := cellname.NewSubjects(prefix)
	var first error
	var futures []jetstream.PubAckFuture
	collect := func() {
		for _, f := range futures {
			select {
			case <-f.Ok():
				st.Published++
			case err := <-f.Err():
				st.Failed++
				if first == nil {
					first = fmt.Errorf("restore %s: %w", f.Msg().Subject, err)
				}
			case <-ctx.Done():
				st.Failed++
			}
		}
		futures = futures[:0]
	}
	for _, c := range cells {
		if !cellname.Match(pattern, c.Name) || lattice.IsNothing(c.Value) {
			continue
		}
		st.Cells++
		data := lattice.Encode(c.Value)
		if _, err := lattice.Decode(data); err != nil || len(data)+1024 > int(nc.MaxPayload()) {
			st.TooLarge++
			if first == nil {
				first = fmt.Errorf("restore %s: value of %d bytes too large to publish as one update: %v", c.Name, len(data), err)
			}
			continue
		}
		msg := nats.NewMsg(subjects.Subject(c.Name))
		msg.Data = data
		sum := sha256.Sum256(append([]byte(c.Name+"\x00"), data...))
		msg.Header.Set(jetstream.MsgIDHeader, "dprop-restore-"+hex.EncodeToString(sum[:12]))
		msg.Header.Set(HeaderOrigin, "dprop-restore")
		var f jetstream.PubAckFuture
		err := signMsg(msg, sign)
		if err == nil {
			f, err = js.PublishMsgAsync(msg)
		}
		if err != nil {
			st.Failed++
			if first == nil {
				first = fmt.Errorf("restore %s: %w", msg.Subject, err)
			}
			continue
		}
		if futures = append(futures, f); len(futures) == 512 {
			collect()
		}
	}
	collect()
	if first == nil {
		first = ctx.Err()
	}
	return st, first
}
