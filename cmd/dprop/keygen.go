package main

import (
	"fmt"

	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"
)

// defaultKeyFile is where dprop keygen writes a seed without --out.
const defaultKeyFile = "dprop-signing.nk"

func newKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen [--out FILE]",
		Short: "Make a key pair to sign updates with, and print its public key",
		Long: `Make an Ed25519 key pair (a NATS user NKey) to sign updates with: the seed,
which is the secret, goes to --out (mode 0600; an existing file is never
overwritten), and the public key (U...) is printed on stdout, alone on its
line, for a trust policy's signers.

Sign with it: dprop refine --sign-key FILE, or a sidecar's --sign-key FILE
(dprop up, dprop replica), which signs what it publishes. See
docs/signing.md.`,
		Example: `  dprop keygen --out ingest.nk
  PUB=$(dprop keygen --out ingest.nk)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kp, err := nkeys.CreateUser()
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			seed, err := kp.Seed()
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			pub, err := kp.PublicKey()
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			if err := writeNewSecret(out, string(seed)+"\n"); err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), pub)
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote the seed of %s to %s (mode 0600): keep it secret; it signs as that key.\n"+
				"Trust the public key in a policy's signers (docs/signing.md) and sign with --sign-key %s.\n", pub, out, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", defaultKeyFile, "file to write the seed (the secret) to; never overwritten")
	return cmd
}
