package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/replica"
)

func newCompactCmd(g *globals) *cobra.Command {
	var (
		nf                     natsFlags
		cells                  string
		mode                   string
		prefix                 string
		stream                 string
		maxBytes               int
		trustFile, signKeyFile string
	)
	cmd := &cobra.Command{
		Use:   "compact [--cells PATTERN] [--mode auto|rollup|checkpoint]",
		Short: "Shorten the update log to about one message per cell",
		Long: `Fold the log, then replace each cell's updates by their join, so that a new
replica's resync grows with the number of cells rather than the length of
history. Safe while writers write and with several compactors at once: see
docs/recovery.md. The default mode checkpoints when compacting every cell
and rolls up a subset.

It prints what it compacted and why it left the other cells as they were,
and exits with status 1 when it could not compact cells it was asked to:
joins too large to publish as one update, or failed publishes. Cells with
nothing to compact, or written meanwhile (the next compaction takes them),
do not make it fail.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			m := replica.CompactMode(mode)
			if mode == "auto" {
				m = replica.CompactAuto
			}
			if m != replica.CompactAuto && m != replica.CompactRollup && m != replica.CompactCheckpoint {
				return usagef("--mode %q: use auto, rollup or checkpoint", mode)
			}
			if err := cellname.ValidatePattern(cells); err != nil {
				return usagef("--cells: %v", err)
			}
			if err := checkMaxCellBytes(maxBytes); err != nil {
				return err
			}
			trust, err := loadTrust(trustFile)
			if err != nil {
				return err
			}
			key, err := loadSignKey(signKeyFile, func(msg string) { log.Warn(msg) })
			if err != nil {
				return err
			}
			if key != nil && trust == nil {
				log.Warn("this compactor signs its rollups but folds without a trust policy: they would vouch, under its key, for every update it folded, signed or not; give it the replicas' --trust")
			}
			nc, err := nf.connect(log, "dprop compact", false)
			if err != nil {
				return err
			}
			defer nc.Close()
			ctx := cmd.Context()
			// The compactor holds every cell when it compacts them all, so
			// that a checkpoint is possible; otherwise just the subset.
			cfg := replica.Config{Conn: nc, Prefix: prefix, Stream: stream, Cells: cells,
				MaxCellBytes: maxBytes, Trust: trust, NetworkDeclarations: logDeclarations, Logger: log, Progress: progressReporter(log)}
			if key != nil {
				cfg.SignKey = key
			}
			rep, err := replica.Start(ctx, cfg)
			if err != nil {
				return err
			}
			defer rep.Close()
			select {
			case <-rep.Ready():
			case <-ctx.Done():
				return ctx.Err()
			}
			st, err := rep.Compact(ctx, replica.CompactOptions{Cells: cells, Mode: m})
			fmt.Fprintln(cmd.OutOrStdout(), st)
			return err
		},
	}
	nf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&cells, "cells", ">", "cells to compact (a pattern)")
	fl.StringVar(&mode, "mode", "auto", "auto, rollup or checkpoint")
	fl.StringVar(&prefix, "prefix", cellname.DefaultPrefix, "subject prefix of cells")
	fl.StringVar(&stream, "stream", cellname.DefaultStream, "name of the stream keeping the update log")
	registerMaxCellBytes(cmd, &maxBytes)
	registerTrust(cmd, &trustFile)
	registerSignKey(cmd, &signKeyFile, "the compaction's messages (under a trust policy, cells whose rollups it would refuse from this key are left as they are)")
	return cmd
}
