package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newCellsCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "cells [PATTERN]",
		Short: "List the cells a sidecar holds",
		Example: `  dprop cells
  dprop cells 'weather.>'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			match := ""
			if len(args) == 1 {
				match = args[0]
			}
			cells, err := f.client().Cells(cmd.Context(), match)
			if err != nil {
				return clientError(f.url, err)
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), cells)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CELL\tTYPE\tUPDATES\tSEQ\tETAG")
			for _, c := range cells {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", c.Name, c.Type, c.Updates, c.Seq, c.ETag)
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}
