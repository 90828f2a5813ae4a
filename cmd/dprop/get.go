package main

import (
	"fmt"
	"time"

	"github.com/dprop/dprop/replica/httpapi"
	"github.com/spf13/cobra"
)

func newGetCmd() *cobra.Command {
	var (
		f       clientFlags
		await   string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "get CELL",
		Short: "Print a cell's value",
		Long: `Print a cell's merged value in wire form, as the sidecar holds it; with
--json, the cell with its type, ETag, stream sequence and update count.
A cell in contradiction prints its value (which says what disagreed) and a
warning on stderr.

With --await, wait until the cell is at least as informative as the given
value (a threshold read), then print it.`,
		Example: `  dprop get weather.boston.temp
  dprop get --await '{"type":"max","value":10}' --timeout 1m jobs.done`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := f.client()
			var cell httpapi.Cell
			var err error
			if await != "" {
				cell, err = c.Await(cmd.Context(), args[0], []byte(await), timeout)
			} else {
				cell, err = c.Get(cmd.Context(), args[0])
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
	return err
}
