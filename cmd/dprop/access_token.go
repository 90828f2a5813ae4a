package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/replica/httpapi"
)

func newAccessTokenCmd() *cobra.Command {
	var (
		read, refine []string
		admin        bool
		file, cert   string
	)
	cmd := &cobra.Command{
		Use:   "token NAME --file FILE [--read PATTERN] [--refine PATTERN] [--admin]",
		Short: "Make a bearer token for a sidecar's HTTP API and add its hash to a tokens file",
		Long: `Make a token for a client of the sidecars whose --http-tokens is FILE: 256
random bits with the prefix dprop_. The token is printed once, on stdout;
FILE keeps its SHA-256 only, under NAME, with what the token may do:

  --read PATTERN     read the cells matching PATTERN (get, await, watch,
                     history; listings show only those cells)
  --refine PATTERN   refine them (without --read on a cell, a refine's
                     answer does not carry the cell's value)
  --admin            /metrics and the other admin endpoints (no cell)

Patterns are cell names or patterns such as 'weather.>'; repeat the flags
or separate patterns with commas. FILE is created (mode 0600) if it does
not exist; a NAME it already has is refused. Running sidecars take the
new entry within two seconds (or at once on SIGHUP).

With --cert CN no token is made: the entry is for clients that present a
certificate with Subject CN, signed by an authority of the sidecar's
--http-client-ca.`,
		Example: `  dprop access token weather-app --read 'weather.>' --refine 'weather.boston.>' --file tokens.yaml
  DPROP_TOKEN=$(dprop access token ops --admin --read '>' --file tokens.yaml)
  dprop access token billing --cert billing-svc --read 'billing.>' --file tokens.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(read) == 0 && len(refine) == 0 && !admin {
				return usagef("give what the token may do: --read PATTERN, --refine PATTERN or --admin")
			}
			p := httpapi.Principal{Name: args[0], Read: read, Refine: refine, Admin: admin, Cert: cert}
			token := ""
			if cert == "" {
				var err error
				if token, err = newToken(); err != nil {
					return err
				}
				p.TokenSHA256 = httpapi.HashToken(token)
			}
			if _, err := httpapi.NewAccess([]httpapi.Principal{p}); err != nil {
				var ee *httpapi.EntryError
				if errors.As(err, &ee) && ee.Field != "" {
					return usagef("%s: %v", flagOf(ee.Field), ee.Err)
				}
				return usageError{err}
			}
			created, err := appendTokenEntry(file, p, time.Now())
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			what := "the token's hash"
			if token == "" {
				what = "certificates with CN " + cert
			}
			if created {
				fmt.Fprintf(stderr, "created %s (mode 0600) with %q: %s; may %s\n", file, p.Name, what, scopes(p))
			} else {
				fmt.Fprintf(stderr, "added %q to %s: %s; may %s\n", p.Name, file, what, scopes(p))
			}
			if writableByOthers(file) {
				fmt.Fprintf(stderr, "dprop: warning: %s may be written by others than its owner, who could give themselves a token: chmod go-w %s\n", file, file)
			}
			if token == "" {
				return nil
			}
			fmt.Fprintln(stderr, "The token is printed once, below; the file cannot give it back. Clients send it as\n"+
				"Authorization: Bearer TOKEN, and dprop reads it from DPROP_TOKEN (or --token).")
			_, err = fmt.Fprintln(cmd.OutOrStdout(), token)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&read, "read", nil, "cell names or patterns the token may read")
	fl.StringSliceVar(&refine, "refine", nil, "cell names or patterns the token may refine")
	fl.BoolVar(&admin, "admin", false, "allow /metrics and the other admin endpoints")
	fl.StringVar(&file, "file", "", "the tokens file of the sidecars (their --http-tokens)")
	fl.StringVar(&cert, "cert", "", "make no token: an entry for client certificates with this Subject CN")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// flagOf is the flag that sets a field of a Principal.
func flagOf(field string) string {
	switch field {
	case "name":
		return "NAME"
	case "hash":
		return "the token"
	}
	return "--" + field
}

// scopes says what p may do, for people.
func scopes(p httpapi.Principal) string {
	var parts []string
	if len(p.Read) > 0 {
		parts = append(parts, "read "+strings.Join(p.Read, ", "))
	}
	if len(p.Refine) > 0 {
		parts = append(parts, "refine "+strings.Join(p.Refine, ", "))
	}
	if p.Admin {
		parts = append(parts, "use the admin endpoints")
	}
	return strings.Join(parts, "; ")
}
