package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/dprop/dprop/replica/httpapi"
	"github.com/spf13/cobra"
)

func newGetCmd() *cobra.Command {
	var (
		f         clientFlags
		await     string
		timeout   time.Duration
		stored    bool
		explain   bool
		worldview string
	)
	cmd := &cobra.Command{
		Use:   "get CELL",
		Short: "Print a cell's value",
		Long: `Print a cell's merged value in wire form, as the sidecar holds it; with
--json, the cell with its type, ETag, stream sequence and update count.
A cell in contradiction prints its value (which says what disagreed) and a
warning on stderr.

With --await, wait until the cell is at least as informative as the given
value (a threshold read), then print it.

A supported cell prints its strongest consequence under the worldview (the
premises believed): a value of its inner type, with the premises it rests on
on stderr ("support: a, b"), or in --json. --stored prints every claim as
stored (to publish again); --worldview changes the worldview for this read
only ("-superintendent,+fall-time"); --explain prints the consequence, its
support, the premises in conflict if it is a contradiction, and the stored
claims, as JSON.`,
		Example: `  dprop get weather.boston.temp
  dprop get --await '{"type":"max","value":10}' --timeout 1m jobs.done
  dprop get building.height
  dprop get --worldview -superintendent building.height
  dprop get --explain building.height`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := f.client()
			var cell httpapi.Cell
			var err error
			switch {
			case explain:
				ex, err := c.Explain(cmd.Context(), args[0], worldview)
				if err != nil {
					return clientError(f.url, err)
				}
				return printJSON(cmd.OutOrStdout(), ex)
			case await != "":
				cell, err = c.Await(cmd.Context(), args[0], []byte(await), timeout)
			default:
				cell, err = c.Read(cmd.Context(), args[0], httpapi.ReadOptions{Stored: stored, Worldview: worldview})
			}
			if err != nil {
				return clientError(f.url, err)
			}
			return printCell(cmd, f.json, cell)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&await, "await", "", "wait until the cell is at least this value (wire JSON)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long --await waits")
	cmd.Flags().BoolVar(&stored, "stored", false, "a supported cell: print every claim as stored, not the consequence")
	cmd.Flags().BoolVar(&explain, "explain", false, "print the value under the worldview, its support and the stored claims, as JSON")
	cmd.Flags().StringVar(&worldview, "worldview", "", `a supported cell: withdraw (-p) or believe (+p) premises for this read only, e.g. "-superintendent"`)
	cmd.MarkFlagsMutuallyExclusive("stored", "explain", "await")
	return cmd
}

// printCell prints the value alone, so that it can be piped and published
// again, or the cell with its metadata as JSON (--json). A contradiction is
// said on stderr as well.
func printCell(cmd *cobra.Command, asJSON bool, c httpapi.Cell) error {
	var err error
	if asJSON {
		err = printJSON(cmd.OutOrStdout(), c)
	} else {
		_, err = fmt.Fprintln(cmd.OutOrStdout(), string(c.Value))
	}
	if c.Contradiction != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "dprop: cell %s is a contradiction: %s\n", c.Name, c.Contradiction)
	}
	if len(c.Conflict) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "dprop: premises in conflict (a nogood): %s\n", strings.Join(c.Conflict, ", "))
	} else if c.Support != nil && !asJSON {
		fmt.Fprintf(cmd.ErrOrStderr(), "support: %s\n", strings.Join(c.Support, ", "))
	}
	return err
}
