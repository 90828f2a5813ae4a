package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dprop/dprop/propagators"
)

// printPremises prints premises as a table, then the nogoods.
func printPremises(w io.Writer, ps []propagators.PremiseState, nogoods, inconsistent [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREMISE\tBELIEVED\tCHANGED\tBY")
	for _, p := range ps {
		when, by := "-", "-"
		if p.TS != 0 {
			when = time.UnixMilli(p.TS).Local().Format(time.DateTime)
		}
		if p.Writer != "" {
			by = p.Writer
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", p.Premise, p.Believed, when, by)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(nogoods) == 0 {
		_, err := fmt.Fprintln(w, "no nogoods")
		return err
	}
	fmt.Fprintln(w, "nogoods (premises that cannot all hold):")
	for _, ng := range nogoods {
		mark := ""
		if slices.ContainsFunc(inconsistent, func(i []string) bool { return slices.Equal(i, ng) }) {
			mark = "  ← all believed now: the worldview is inconsistent"
		}
		fmt.Fprintf(w, "  %s%s\n", strings.Join(ng, ", "), mark)
	}
	return nil
}
