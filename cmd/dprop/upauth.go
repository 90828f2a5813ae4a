package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dprop/dprop/broker"
)

// adminKeyFile is where dprop up --auth keeps the admin's NKey seed.
func adminKeyFile(data string) string { return filepath.Join(data, "auth", "admin.nk") }

// upAuth turns authorization on for dprop up when asked, or when an earlier
// --auth left its admin key in the data directory: the admin NKey is made
// once (mode 0600) and its public key added to the server's users. It
// returns the seed file's path ("" when auth is off).
func upAuth(data string, asked bool, cfg *broker.Config) (string, error) {
	path := adminKeyFile(data)
	_, err := os.Stat(path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if !asked && !exists {
		return "", nil
	}
	if !exists {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
	}
	kp, err := userKey(path)
	if err != nil {
		return "", fmt.Errorf("admin key: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", err
	}
	admin, err := broker.NewUser("admin", broker.RoleAdmin, broker.Scope{}, "", pub)
	if err != nil {
		return "", err
	}
	cfg.Users = append(cfg.Users, admin)
	return path, nil
}

// printAuth says how to use the admin key with the nats CLI and dprop.
func printAuth(w io.Writer, natsURL, seedFile string) {
	abs, err := filepath.Abs(seedFile)
	if err != nil {
		abs = seedFile
	}
	fmt.Fprintf(w, `
NATS clients must authenticate. The admin's NKey seed is in %s (keep it
secret; remove it to turn auth off on the next start). Use it with:
  nats --nkey %s ...
  nats context save dprop --server %s --nkey %s --select
  dprop compact --nats-url %s --nkey %s
Users with less than every right: write a configuration with 'dprop access
config' and start with --config FILE (docs/security.md).
`, seedFile, seedFile, natsURL, abs, natsURL, seedFile)
}
