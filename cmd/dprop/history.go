package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newHistoryCmd() *cobra.Command {
	var (
		f     clientFlags
		since string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "history CELL",
		Short: "List a cell's updates from the log, oldest first",
		Long: `List every update of a cell that the log holds, oldest first: its stream
sequence, when it was stored, who wrote it (when the writer said), whether
it changed the cell, and the value after it. Refused updates appear with
the reason (under the sidecar's trust policy, if it has one: updates it
forbids show as refused: unsigned, bad_signature, untrusted_signer). The
SIGNER column shows the start of the key an update names as its signer.
After a compaction the history starts at the compaction.`,
		Example: `  dprop history weather.boston.temp
  dprop history --since 2h --limit 20 weather.boston.temp`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTime("--since", since)
			if err != nil {
				return err
			}
			h, err := f.client().History(cmd.Context(), args[0], t, limit)
			if err != nil {
				return clientError(f.url, err)
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), h)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tORIGIN\tSIGNER\tCHANGED\tUPDATE\tVALUE AFTER")
			for _, e := range h.Entries {
				after := string(e.Value)
				switch {
				case e.Refused != "":
					after = "refused: " + e.Refused + ": " + e.Error
				case e.Forgotten:
					after = "forgotten"
				case e.Rollup:
					after += " (compaction)"
				}
				origin := e.Origin
				if origin == "" {
					origin = "-"
				}
				signer := "-"
				if e.Signer != "" {
					signer = e.Signer[:min(len(e.Signer), 10)] + "…"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\t%s\t%s\n", e.Seq, e.Time.Local().Format(time.DateTime), origin, signer, e.Changed, e.Update, after)
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&since, "since", "", "only updates stored after this time (RFC 3339, or a duration ago such as 2h)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many entries (default: the server's, 1000)")
	return cmd
}
