package main

import (
	"fmt"
	"strings"

	"github.com/dprop/dprop/propagators/network"
	"github.com/spf13/cobra"
)

func newNetworkCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Work with network files (cells and propagators) and the networks kept in the log",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a network file and report every problem with its position",
		Long: `Check a network file: unknown cells or kinds, wrong arity, missing or invalid
parameters, type mismatches, bad names, duplicates. Every problem is
reported as FILE:LINE:COLUMN: message; the exit status is 1 if there is any.`,
		Example: `  dprop network check testdata/networks/temperature.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := network.Load(args[0])
			if err != nil {
				return err
			}
			if err := n.Check(); err != nil {
				return problemsError(cmd, args[0], err)
			}
			b, err := n.Build()
			if err != nil {
				return err
			}
			groups := n.Groups()
			desc := ""
			if len(groups) > 0 {
				desc = " (groups: " + strings.Join(groups, ", ") + ")"
			}
			tmpl := ""
			if len(b.Templates) > 0 || len(b.Patterns) > 0 {
				tmpl = fmt.Sprintf(", %d cell patterns, %d templates", len(b.Patterns), len(b.Templates))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok, %d cells, %d propagators%s%s\n", args[0], len(b.Types), len(b.Propagators), tmpl, desc)
			return nil
		},
	})
	cmd.AddCommand(newNetworkGraphCmd(), newNetworkApplyCmd(g), newNetworkRmCmd(g), newNetworkLsCmd(g), newNetworkGetCmd(g))
	return cmd
}
