package main

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/httpapi"
)

func newRefineCmd() *cobra.Command {
	var (
		f           clientFlags
		key         string
		signKeyFile string
		prefix      string
		logAck      bool
		premises    []string
	)
	cmd := &cobra.Command{
		Use:   "refine CELL JSON|-",
		Short: "Merge a value into a cell and print the result",
		Long: `Publish a lattice value (wire JSON, or - to read it from stdin) as an
update of a cell. The sidecar merges it, never overwrites, and prints the
cell's value after the merge (read-your-writes).

An --idempotency-key names one update of the cell: retrying with the same
key and value stores it once (within the stream's duplicate window, two
minutes by default) and says it was a duplicate; the same key with another
value is refused. Give each new value its own key.

With a token that may refine the cell but not read it (see 'dprop access
token'), the sidecar does not send the value: nothing is printed, and a
contradiction cannot be told.

With --sign-key the update is signed (see docs/signing.md): dprop decodes
the value and signs its canonical encoding on the cell's subject under
--prefix, which is what the sidecar publishes, and the sidecar passes the
signature on. A trust policy may require it: an update it refuses gets 403
(untrusted_signer, unsigned), a signature that does not verify 400.

A sidecar with --data keeps a refine the log cannot take in time (the
brokers unreachable, the stream without a quorum) in its outbox, synced to
disk, answers it at once with the merged value, and delivers it once the
log is back (docs/recovery.md): dprop says so on stderr. --ack-log asks
for the log's acknowledgement instead, failing when the log cannot give it.

With --premises the value is a claim resting on those premises: dprop
publishes it as a supported value of one claim, for a supported cell (see
docs/provenance.md).

Exit status: 0 merged (into the log, or kept in the outbox); 3 merged, and the cell is now a contradiction (its
value, printed, says what disagreed); 1 refused or failed; 2 usage error.`,
		Example: `  dprop refine weather.boston.temp '{"type":"range","min":34,"max":48}'
  echo '{"type":"flag","value":true}' | dprop refine jobs.done -
  dprop refine --sign-key ingest.nk weather.boston.temp '{"type":"range","min":34,"max":48}'
  dprop refine --premises superintendent building.height '{"type":"interval","lo":45,"hi":45}'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := readJSONArg(args[1], cmd.InOrStdin())
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("premises") {
				if body, err = claimOf(body, premises); err != nil {
					return err
				}
			}
			opts := []httpapi.RefineOption{httpapi.WithIdempotencyKey(key)}
			if logAck {
				opts = append(opts, httpapi.WithLogAck())
			}
			if signKeyFile != "" {
				var sign httpapi.RefineOption
				if body, sign, err = signRefine(cmd, signKeyFile, prefix, args[0], body); err != nil {
					return err
				}
				opts = append(opts, sign)
			}
			cell, err := f.client().Refine(cmd.Context(), args[0], body, opts...)
			var apiErr *httpapi.APIError
			if errors.As(err, &apiErr) && apiErr.Reason == httpapi.ReasonKeyReused {
				return exitError{code: exitFailure, msg: fmt.Sprintf("%s (HTTP %d)\n--idempotency-key %q names another value of %s: give each new value its own key",
					apiErr.Message, apiErr.Status, key, args[0])}
			}
			if errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden &&
				(apiErr.Reason == fold.ReasonUnsigned || apiErr.Reason == fold.ReasonUntrustedSigner) {
				hint := "sign it with --sign-key FILE, a key the sidecar's trust policy trusts for " + args[0]
				if signKeyFile != "" {
					hint = "--sign-key " + signKeyFile + " is not a key the sidecar's trust policy trusts for " + args[0]
				}
				return exitError{code: exitFailure, msg: fmt.Sprintf("%s (HTTP %d)\n%s (docs/signing.md)", apiErr.Message, apiErr.Status, hint)}
			}
			if err != nil {
				return clientError(f.url, err)
			}
			if cell.Accepted && !f.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "dprop: the log could not take the update in time; the sidecar keeps it in its outbox, synced, and will deliver it (%s update(s) of the cell pending; see 'dprop outbox')\n", orUnknown(cell.Pending))
			}
			if cell.Duplicate && !f.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "dprop: already stored under --idempotency-key %q: nothing new was stored\n", key)
			}
			if cell.Value == nil && !f.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "dprop: merged into %s; the token may not read the cell, so the sidecar did not send its value\n", args[0])
				return nil
			}
			if err := printCell(cmd, f.json, cell); err != nil {
				return err
			}
			if cell.Contradiction != "" {
				return exitError{code: exitContradiction} // printCell said so
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&key, "idempotency-key", "", "a key naming this update of the cell: a retry with the same key and value is stored once; another value under the key is refused")
	cmd.Flags().BoolVar(&logAck, "ack-log", false, "fail rather than let the sidecar keep the update in its outbox when the log cannot take it in time")
	cmd.Flags().StringSliceVar(&premises, "premises", nil, "publish the value as a claim resting on these premises (comma-separated), for a supported cell")
	registerSignKey(cmd, &signKeyFile, "the update")
	cmd.Flags().StringVar(&prefix, "prefix", cellname.DefaultPrefix, "with --sign-key: the sidecar's subject prefix (a signature names the cell's subject)")
	return cmd
}

// signRefine signs the value in body as the sidecar will publish it: its
// canonical encoding, decoded under the default limits (a sidecar's), on
// the cell's subject. It returns that encoding, to send as the body, and
// the option that sends the signature.
func signRefine(cmd *cobra.Command, keyFile, prefix, cell string, body []byte) ([]byte, httpapi.RefineOption, error) {
	kp, err := loadSignKey(keyFile, func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), "dprop: warning: "+msg) })
	if err != nil {
		return nil, nil, err
	}
	if err := cellname.Validate(cell); err != nil {
		return nil, nil, usagef("cell: %v", err)
	}
	v, err := lattice.DefaultLimits.Decode(body)
	if err != nil {
		return nil, nil, fmt.Errorf("cell %s: the value, decoded to be signed: %w", cell, err)
	}
	payload := lattice.Encode(v)
	signer, sig, err := replica.SignUpdate(kp, cellname.NewSubjects(prefix).Subject(cell), payload)
	if err != nil {
		return nil, nil, err
	}
	return payload, httpapi.WithSignature(signer, sig), nil
}

// orUnknown prints n, or "some" when the sidecar did not say.
func orUnknown(n int) string {
	if n <= 0 {
		return "some"
	}
	return fmt.Sprint(n)
}

// claimOf wraps the value in body as one claim on premises (--premises).
func claimOf(body []byte, premises []string) ([]byte, error) {
	v, err := lattice.DefaultLimits.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("the value, to be claimed on --premises: %w", err)
	}
	s, err := lattice.Support(v, premises...)
	if err != nil {
		return nil, usagef("--premises: %v", err)
	}
	return lattice.Encode(s), nil
}
