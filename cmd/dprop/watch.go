package main

import (
	"fmt"

	"github.com/dprop/dprop/replica/httpapi"
	"github.com/spf13/cobra"
)

func newWatchCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "watch CELL|PATTERN",
		Short: "Print a cell's value, then every change, until interrupted",
		Long: `Print the current value of a cell (or of every cell matching a pattern such
as "weather.>"), then one line per real change. Merges that add nothing
print nothing. A cell that does not exist yet may be watched.`,
		Example: `  dprop watch weather.boston.temp
  dprop watch --json 'weather.>'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			err := f.client().Watch(cmd.Context(), args[0], func(ev httpapi.Event) error {
				if f.json {
					return printJSON(out, ev)
				}
				_, err := fmt.Fprintf(out, "%s\t%s\n", ev.Cell, ev.Value)
				return err
			})
			return clientError(f.url, err)
		},
	}
	f.register(cmd)
	return cmd
}
