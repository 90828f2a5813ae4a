package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/propagators/network"
)

func newAccessCheckCmd() *cobra.Command {
	var canonical bool
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a trust policy and print its hash",
		Long: `Check a trust policy file (for --trust): its YAML, unknown fields, cell
patterns, public keys and key names, rules that take no update, and rules
an earlier rule hides. Every problem is reported as FILE:LINE:COLUMN:
message; the exit status is 1 if there is any.

A good policy is summed up with its hash: the SHA-256 of its canonical
form (rules in order, each rule's signers sorted; layout, comments and key
names do not count), which replicas show on /readyz and in
dprop_trust_policy_info. --canonical prints that form. See
docs/signing.md.`,
		Example: `  dprop access check policy.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := loadTrust(args[0])
			var ps network.Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					fmt.Fprintln(cmd.ErrOrStderr(), p.String())
				}
				return exitError{code: exitFailure, msg: fmt.Sprintf("%s: %d problem(s)", args[0], len(ps))}
			}
			if err != nil {
				return err
			}
			if canonical {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", t.Canonical())
				return nil
			}
			rules := t.Rules()
			keys := map[string]bool{}
			for _, r := range rules {
				for _, s := range r.Signers {
					keys[s] = true
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok, %d rules, %d keys; a cell no rule matches takes no update\ntrust policy sha256 %s\n",
				args[0], len(rules), len(keys), t.Hash())
			return nil
		},
	}
	cmd.Flags().BoolVar(&canonical, "canonical", false, "print the policy's canonical form (what its hash is of)")
	return cmd
}
