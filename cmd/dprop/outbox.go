package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/replica/httpapi"
)

func newOutboxCmd() *cobra.Command {
	var (
		f     clientFlags
		limit int
	)
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "Show the updates a sidecar keeps for the log",
		Long: `Show what a sidecar's outbox holds: the refines the log could not take in
time (the brokers unreachable, the stream without a quorum), kept synced on
the sidecar's disk and delivered, in order, once the log is back. Each line
is one pending update: its id, cell, age, size and value.

The outbox exists with --data (dprop up has one by default). A torn record
found at start (a write cut by a power loss) was set aside: the line
"torn tail" says where; docs/recovery.md says what to do with it.

Exit status: 0 nothing pending; 3 updates pending; 1 failed.`,
		Example: `  dprop outbox
  dprop outbox --url http://127.0.0.1:8080 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.client().Outbox(cmd.Context(), limit)
			if err != nil {
				return clientError(f.url, err)
			}
			if f.json {
				if err := printJSON(cmd.OutOrStdout(), o); err != nil {
					return err
				}
			} else {
				printOutbox(cmd.OutOrStdout(), o)
			}
			if o.Pending > 0 {
				return exitError{code: exitPending}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many pending updates")
	return cmd
}

func printOutbox(w io.Writer, o httpapi.Outbox) {
	age := ""
	if o.Pending > 0 {
		age = fmt.Sprintf(", the oldest waiting %s", (time.Duration(o.OldestAge * float64(time.Second))).Round(time.Millisecond))
	}
	fmt.Fprintf(w, "Outbox: %d update(s) pending, %s%s; %d taken and %d delivered since start\n",
		o.Pending, bytesText(uint64(o.Bytes)), age, o.Taken, o.Delivered)
	if o.LastError != "" {
		fmt.Fprintf(w, "  last delivery stopped: %s\n", o.LastError)
	}
	if o.Torn > 0 {
		fmt.Fprintf(w, "  torn tail: %d bytes set aside at start in %s (see docs/recovery.md)\n", o.Torn, o.TornFile)
	}
	if len(o.Updates) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCELL\tAGE\tBYTES\tVALUE")
	for _, u := range o.Updates {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", u.ID, u.Cell, time.Since(u.Added).Round(time.Millisecond), u.Bytes, truncate(string(u.Value), 80))
	}
	tw.Flush()
	if o.More {
		fmt.Fprintf(w, "(more pending than listed: --limit raises it)\n")
	}
}

// truncate cuts s to n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
