package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/replica"
)

func newRestoreCmd(g *globals) *cobra.Command {
	var (
		nf     natsFlags
		cells  string
		prefix string

		signKeyFile string
	)
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Publish a snapshot file's values back as refinements",
		Long: `Publish the value of every cell in a snapshot file (from 'dprop replay', or a
replica's local snapshot) as an ordinary refinement. Merges are idempotent,
so this is safe on a live network (cells gain only what they lack) and after
the loss of the stream alike (the cells come back). A restore can only add
information: restoring an older snapshot never takes any away.`,
		Example: `  dprop restore before.jsonl
  dprop restore --cells 'weather.>' /var/lib/dprop/snapshot.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if err := cellname.ValidatePattern(cells); err != nil {
				return usagef("--cells: %v", err)
			}
			h, cs, err := replica.ReadSnapshotFile(args[0], replica.SnapshotLimits)
			if err != nil {
				return err
			}
			if prefix == "" {
				prefix = h.Prefix
			}
			nc, err := nf.connect(log, "dprop restore", false)
			if err != nil {
				return err
			}
			defer nc.Close()
			key, err := loadSignKey(signKeyFile, func(msg string) { log.Warn(msg) })
			if err != nil {
				return err
			}
			var sign replica.Signer
			if key != nil {
				sign = key
			}
			st, err := replica.Restore(cmd.Context(), nc, prefix, cs, cells, sign)
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d of %d cells from %s (snapshot of stream sequence %d)", st.Published, st.Cells, args[0], h.Seq)
			if st.Failed > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; %d failed", st.Failed)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return err
		},
	}
	nf.register(cmd)
	cmd.Flags().StringVar(&cells, "cells", ">", "cells to restore (a pattern)")
	cmd.Flags().StringVar(&prefix, "prefix", "", "subject prefix to publish under (default: the snapshot's)")
	registerSignKey(cmd, &signKeyFile, "the restored values (needed for cells a trust policy protects)")
	return cmd
}
