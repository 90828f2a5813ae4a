package replica

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/replica/fold"
)

// This file keeps a replica's local snapshot: load at start, check that it
// belongs to the stream found, write periodically and at Close.

// snapState is what the replica knows of its local snapshot.
type snapState struct {
	loaded  bool           // the cells came from a snapshot
	header  SnapshotHeader // of the loaded snapshot
	written uint64         // sequence of the last snapshot written or loaded
}

// Stale reports whether the replica's answers may lag behind the stream:
// it serves a snapshot's state that it has not yet brought up to date (the
// broker may be unreachable), or its stream went missing, or it is
// catching up again after re-attaching to its stream.
func (r *Replica) Stale() bool { return r.stale.Load() }

// loadSnapshot restores the cells of a usable local snapshot; any other
// snapshot is reported and set aside.
//
// The cells go into the core batch by batch as they are decoded, while
// the rest of the file is read (the core is not in use yet): restoring
// a million cells into the core after reading them all took as long
// again as the reading. A snapshot found bad on the way (its checksum is
// known at its end) leaves a core that is thrown away for a new one.
func (r *Replica) loadSnapshot() {
	path := r.cfg.SnapshotPath
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var h SnapshotHeader
	n, reserve := 0, 0
	if err == nil {
		h, err = readSnapshot(f, SnapshotLimits, snapshotSink{
			header: func(h SnapshotHeader) error {
				if err := r.compatible(h); err != nil {
					return err
				}
				// A cell line takes more than 32 bytes: a header
				// that claims more cells than that is not believed.
				if st, err := f.Stat(); err == nil && h.Count > 0 && int64(h.Count) <= st.Size()/32 {
					reserve = h.Count
				}
				return nil
			},
			cells: func(cells []fold.Cell) error {
				if err := r.compatibleCells(cells); err != nil {
					return err
				}
				if n == 0 {
					// Here, not in header: making a map of 1M cells
					// took 0.2 s, which the reading and decoding of
					// the first chunks now overlap.
					r.core.Reserve(reserve)
				}
				r.core.Restore(0, cells...)
				n += len(cells)
				return nil
			},
		})
		f.Close()
	}
	if err != nil {
		r.core = fold.NewCore(r.cfg.Prefix, r.cfg.Declared, r.cfg.foldLimits())
		kept := setAside(path, "unusable")
		r.log.Warn("local snapshot unusable; replaying the whole stream", "path", path, "err", fmt.Errorf("%s: %w", path, err), "kept_as", kept)
		return
	}
	r.core.Restore(h.Seq)
	r.core.RestoreForgotten(h.Forgotten)
	r.opKeys.restore(h.OpKeys)
	r.startAt = h.Seq
	r.done = h.Seq
	r.snap = snapState{loaded: true, header: h, written: h.Seq}
	r.stale.Store(true)
	r.log.Info("local snapshot loaded", "path", path, "cells", n, "seq", h.Seq, "written", h.Written)
}

// compatible refuses a snapshot of other cells than this replica's.
func (r *Replica) compatible(h SnapshotHeader) error {
	if h.Stream != r.cfg.Stream || h.Prefix != r.cfg.Prefix || h.Cells != r.cfg.Cells {
		return fmt.Errorf("%w: it holds cells %q of stream %s (prefix %s); this replica holds %q of %s (prefix %s)",
			ErrBadSnapshot, h.Cells, h.Stream, h.Prefix, r.cfg.Cells, r.cfg.Stream, r.cfg.Prefix)
	}
	if want := trustHash(r.cfg.Trust); h.Trust != want {
		return fmt.Errorf("%w: its cells were folded under trust policy %s, this replica folds under %s",
			ErrBadSnapshot, policyName(h.Trust), policyName(want))
	}
	return nil
}

// compatibleCells refuses cells of another type than declared.
func (r *Replica) compatibleCells(cells []fold.Cell) error {
	if len(r.cfg.Declared) == 0 {
		return nil
	}
	for _, c := range cells {
		if d := r.cfg.Declared[c.Name]; d != "" && c.Type != "" && c.Type != d {
			return fmt.Errorf("%w: cell %q is %s in the snapshot but declared %s", ErrBadSnapshot, c.Name, c.Type, d)
		}
	}
	return nil
}

// checkSnapshotStream drops a loaded snapshot that belongs to an earlier
// incarnation of the stream (deleted and created again): its sequence means
// nothing there. The file is kept so that its information can be published
// back with dprop restore.
func (r *Replica) checkSnapshotStream(info *jetstream.StreamInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.snap.loaded || info == nil {
		return
	}
	h := r.snap.header
	sameStream := h.StreamCreated.IsZero() || h.StreamCreated.Equal(info.Created)
	if sameStream && info.State.LastSeq >= h.Seq {
		return
	}
	kept := setAside(r.cfg.SnapshotPath, "foreign")
	r.log.Warn("local snapshot belongs to an earlier stream; replaying the current stream from the start. "+
		"Publish the old snapshot's information back with `dprop restore`",
		"snapshot_stream_created", h.StreamCreated, "stream_created", info.Created,
		"snapshot_seq", h.Seq, "stream_last_seq", info.State.LastSeq, "kept_as", kept)
	r.core = fold.NewCore(r.cfg.Prefix, r.cfg.Declared, r.cfg.foldLimits())
	r.startAt = 0
	r.waitMu.Lock()
	r.done = 0
	r.waitMu.Unlock()
	r.snap = snapState{}
	r.stale.Store(false)
}

// setAside renames a snapshot file that will not be used, so that the next
// write does not destroy what it holds. It returns the new name.
func setAside(path, why string) string {
	to := path + "." + why + "-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(path, to); err != nil {
		return ""
	}
	return to
}

func (r *Replica) snapshotLoop() {
	t := time.NewTicker(r.cfg.SnapshotEvery)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			if err := r.saveSnapshot(); err != nil {
				r.log.Warn("local snapshot not written", "err", err)
			}
		}
	}
}

// snapshotPiece is how many cells saveSnapshot reads under one hold of
// the read lock.
const snapshotPiece = 4096

// saveSnapshot writes the local snapshot if anything was folded since the
// last one.
//
// The cells are frozen (fold.Core.Freeze: their names copied) under the
// lock, then read a piece at a time, each under the read lock, while the
// fold goes on: copying a million cells under the read lock in one go
// stalled the fold for the whole copy (docs/performance.md).
func (r *Replica) saveSnapshot() error {
	r.mu.Lock()
	seq := r.core.LastSeq()
	if seq == r.snap.written {
		r.mu.Unlock()
		return nil
	}
	fz, err := r.core.Freeze()
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("snapshot: %w", err)
	}
	h := SnapshotHeader{Stream: r.cfg.Stream, Prefix: r.cfg.Prefix, Cells: r.cfg.Cells, Seq: seq,
		StreamCreated: r.streamCreated, Written: time.Now().UTC(), Trust: trustHash(r.cfg.Trust), Forgotten: fz.Forgotten()}
	if len(h.Forgotten) == 0 {
		h.Forgotten = nil
	}
	h.OpKeys = r.opKeys.export()
	if h.StreamCreated.IsZero() {
		h.StreamCreated = r.snap.header.StreamCreated
	}
	r.mu.Unlock()
	start := time.Now()
	fz.Sort() // names sort faster than cells (WriteSnapshot's order)
	cells := make([]fold.Cell, 0, fz.Len())
	for from := 0; from < fz.Len(); from += snapshotPiece {
		t := time.Now()
		r.mu.RLock()
		cells = fz.Cells(cells, from, min(from+snapshotPiece, fz.Len()))
		r.mu.RUnlock()
		// The fold waiting for the lock gets it for one update, and
		// the next piece would take it back at once: leave it as long
		// again without the lock. (Pieces back to back let the fold
		// fold one update a piece, a fifth of its rate at 1M cells.)
		time.Sleep(time.Since(t))
	}
	r.mu.Lock()
	fz.Close()
	r.mu.Unlock()
	if err := WriteSnapshotFile(r.cfg.SnapshotPath, h, cells); err != nil {
		return err
	}
	r.mu.Lock()
	r.snap.written = seq
	r.mu.Unlock()
	r.log.Debug("local snapshot written", "path", r.cfg.SnapshotPath, "cells", len(cells), "seq", seq, "took", time.Since(start))
	return nil
}
