package replica

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// ReplayOptions select what Replay rebuilds.
type ReplayOptions struct {
	Prefix string // default cellname.DefaultPrefix
	Stream string // default cellname.DefaultStream
	Cells  string // pattern; default all
	// Declared fixes cell types, as a network file does.
	Declared map[string]string
	// Limits and MaxCellBytes are the replicas' (see Config): folded with
	// others, the cells could differ from theirs.
	Limits       lattice.Limits
	MaxCellBytes int
	// Trust is the replicas' trust policy (see Config.Trust): folded
	// without it, forbidden updates would count.
	Trust *fold.Trust
	// NetworkDeclarations is the replicas' (see Config): folded without
	// it, cells the networks in the log declare could take another type.
	NetworkDeclarations func(lattice.Value) fold.Declarations
	// UntilSeq stops after this stream sequence (0: no bound).
	UntilSeq uint64
	// UntilTime stops before the first message stored after this time
	// (zero: no bound).
	UntilTime time.Time
	// Progress, if set, is called about every ProgressEvery (default 1s)
	// and at the end.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Logger, if set, is told in one line how many updates read were
	// refused, and why.
	Logger *slog.Logger
}

// Replay rebuilds the cells as they were at a point of the log: it folds the
// stream from the start up to UntilSeq or UntilTime (or to the end) and
// returns the cells with a snapshot header saying which sequence they
// reflect. It only reads; it publishes nothing.
func Replay(ctx context.Context, nc *nats.Conn, o ReplayOptions) (SnapshotHeader, []fold.Cell, error) {
	if o.Prefix == "" {
		o.Prefix = cellname.DefaultPrefix
	}
	if o.Stream == "" {
		o.Stream = cellname.DefaultStream
	}
	if o.Cells == "" {
		o.Cells = ">"
	}
	if err := cellname.ValidatePattern(o.Cells); err != nil {
		return SnapshotHeader{}, nil, err
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return SnapshotHeader{}, nil, fmt.Errorf("replay: %w", err)
	}
	core := fold.NewCore(o.Prefix, o.Declared, fold.Limits{Update: o.Limits, MaxCellBytes: o.MaxCellBytes, Trust: o.Trust, Networks: o.NetworkDeclarations})
	h := SnapshotHeader{Stream: o.Stream, Prefix: o.Prefix, Cells: o.Cells, UntilTime: o.UntilTime, Trust: trustHash(o.Trust)}
	started, lastReport := time.Now(), time.Now()
	var target uint64
	filter := filterOf(cellname.NewSubjects(o.Prefix), o.Cells)
	info, err := scan(ctx, js, o.Stream, filter, func(m jetstream.Msg, meta *jetstream.MsgMetadata) bool {
		seq := meta.Sequence.Stream
		if target == 0 {
			target = seq + meta.NumPending
		}
		if (o.UntilSeq > 0 && seq > o.UntilSeq) || (!o.UntilTime.IsZero() && meta.Timestamp.After(o.UntilTime)) {
			// Every message on the cells' subjects up to seq-1 is folded,
			// none after: the cells are the state at seq-1.
			h.Seq = seq - 1
			return false
		}
		core.ApplyMessage(messageOf(m, meta))
		if o.Progress != nil && time.Since(lastReport) >= o.ProgressEvery {
			lastReport = time.Now()
			o.Progress(Progress{Target: target, Applied: seq, Pending: meta.NumPending, Cells: core.Len(), Elapsed: time.Since(started)})
		}
		return true
	})
	if err != nil {
		return h, nil, fmt.Errorf("replay: %w", err)
	}
	if h.Seq == 0 {
		h.Seq = core.LastSeq()
	}
	if info != nil {
		h.StreamCreated = info.Created
	}
	if o.Logger != nil {
		logRefusalSummary(ctx, o.Logger, core.Refused())
	}
	cells := make([]fold.Cell, 0, core.Len())
	core.Each(func(c fold.Cell) bool { cells = append(cells, c); return true })
	if o.Progress != nil {
		o.Progress(Progress{Target: target, Applied: h.Seq, Ready: true, Cells: len(cells), Elapsed: time.Since(started)})
	}
	return h, cells, nil
}
