package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/propagators/network/graph"
)

// newNetworkGraphCmd is dprop network graph: the drawing the sidecar's web
// page shows, for docs.
func newNetworkGraphCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Draw a network file's cells and propagators as SVG or DOT",
		Long: `Print the drawing of a network file that the sidecar's web page shows
(/ui/, the network view): cells as boxes with their type and initial
value, propagators as rounded boxes with their kind and group, an arrow from
each input to its propagator and from it to each output.

--format svg (the default) lays the graph out itself and needs nothing else;
--format dot prints Graphviz's DOT language, for dot -Tsvg and the like.
A file with problems is refused as dprop network check reports them.`,
		Example: `  dprop network graph testdata/networks/temperature.yaml > temperature.svg
  dprop network graph --format dot testdata/networks/constraints.yaml | dot -Tpng -o constraints.png`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "svg" && format != "dot" {
				return usagef("--format %q: want svg or dot", format)
			}
			n, err := network.Load(args[0])
			if err != nil {
				return err
			}
			g, err := graph.FromNetwork(n)
			if err != nil {
				var ps network.Problems
				if errors.As(err, &ps) {
					for _, p := range ps {
						fmt.Fprintln(cmd.ErrOrStderr(), p.String())
					}
					return exitError{code: exitFailure, msg: fmt.Sprintf("%s: %d problem(s)", args[0], len(ps))}
				}
				return err
			}
			out := g.SVG()
			if format == "dot" {
				out = g.DOT()
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "svg", "svg or dot")
	return cmd
}
