package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/replica"
)

func newForgetCmd(g *globals) *cobra.Command {
	var (
		nf                     natsFlags
		reason, prefix, stream string
		trustFile, signKeyFile string
	)
	cmd := &cobra.Command{
		Use:   "forget PATTERN",
		Short: "Forget a cell or a subtree of cells everywhere, on purpose",
		Long: `Forget the cells matching PATTERN (a cell name, or a pattern such as
'tenant.test.>'): for each, a forget marker goes into the log, every replica
drops the cell when it folds the marker — at the same point of the stream
order, so all agree — and the cell's updates below the marker are purged
from the stream. Updates after the marker start the cell afresh (its type
is decided again). Snapshots, replays and compaction never bring a
forgotten cell back.

Forgetting needs the admin role where NATS users have roles (publishing a
marker on dprop.forget.<cell>, purging); under a trust policy the marker
must be signed (--sign-key) by a key the policy trusts for the cell. It
prints what it did, and exits 1 if a marker or a purge failed.`,
		Example: `  dprop forget tenant.test.>
  dprop forget --reason 'erasure request #4711' customers.c4711.>`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			pattern := args[0]
			if err := cellname.ValidatePattern(pattern); err != nil {
				return usagef("%v", err)
			}
			trust, err := loadTrust(trustFile)
			if err != nil {
				return err
			}
			key, err := loadSignKey(signKeyFile, func(msg string) { log.Warn(msg) })
			if err != nil {
				return err
			}
			nc, err := nf.connect(log, "dprop forget", false)
			if err != nil {
				return err
			}
			defer nc.Close()
			ctx := cmd.Context()
			// A replica of just the cells to forget knows which there are.
			cfg := replica.Config{Conn: nc, Prefix: prefix, Stream: stream, Cells: pattern, Trust: trust, NetworkDeclarations: logDeclarations,
				Logger: log, Progress: progressReporter(log)}
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
			st, err := rep.Forget(ctx, pattern, reason)
			fmt.Fprintf(cmd.OutOrStdout(), "forgot %d of %d cells matching %s (%d purged from the stream, %d failed) in %s\n",
				st.Markers, st.Cells, pattern, st.Purged, st.Failed, st.Took.Round(1e6))
			return err
		},
	}
	nf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&reason, "reason", "", "why, kept in the marker (dprop history shows it)")
	fl.StringVar(&prefix, "prefix", cellname.DefaultPrefix, "subject prefix of cells")
	fl.StringVar(&stream, "stream", cellname.DefaultStream, "name of the stream keeping the update log")
	registerTrust(cmd, &trustFile)
	registerSignKey(cmd, &signKeyFile, "the forget markers (a trust policy may require it)")
	return cmd
}
