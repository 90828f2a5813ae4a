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
		Long: `Print a cell's merged value in wire form, as the sidecar holds it.

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

// printCell prints the value alone (so it can be piped and published
// again), with its metadata on stderr; or everything as JSON.
func printCell(cmd *cobra.Command, asJSON bool, c httpapi.Cell) error {
	if asJSON {
		return printJSON(cmd.OutOrStdout(), c)
	}
	if _, err := fmt.Fprintln(cmd.OutOrStdout(), string(c.Value)); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "# %s: %s, %d updates, last change at stream sequence %d, etag %s\n", c.Name, c.Type, c.Updates, c.Seq, c.ETag)
	if c.Contradiction != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "# %s is a contradiction: %s\n", c.Name, c.Contradiction)
	}
	return nil
}
