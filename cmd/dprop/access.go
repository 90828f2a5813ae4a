package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
)

// newAccessCmd groups the commands that generate and check access control:
// NATS users and server configurations, the sidecar's HTTP tokens, and
// trust policies for signed updates (see docs/security.md).
func newAccessCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Generate NATS users and configs for dprop's roles, and check access settings",
		Long: `Generate what NATS enforces: users with the permissions of a role on a subtree
of cells (writer, reader, sidecar, admin), as entries of a nats-server
configuration or a whole one. See docs/security.md for what each role may do.`,
	}
	cmd.AddCommand(newAccessUserCmd(), newAccessConfigCmd(), newAccessTokenCmd(), newAccessCheckCmd())
	return cmd
}

// roleHelp describes the roles for flags' help.
const roleHelp = "role: writer (refine the cells), reader (replicate them), sidecar (both), admin (everything: stream management, compaction)"

func newAccessUserCmd() *cobra.Command {
	var (
		role, cells, prefix, stream, nkeyOut string
		password                             bool
	)
	cmd := &cobra.Command{
		Use:   "user NAME",
		Short: "Print a nats-server users entry for a role on a subtree of cells",
		Long: `Print one entry of a nats-server configuration's users list: a user with the
subject permissions of a role on the cells matching --cells, nothing more.

By default the user authenticates with an NKey: a new key pair is made and
its seed written to --nkey-out (mode 0600; an existing file is reused, so
the entry can be printed again); the entry holds only the public key. With
--password a random password is made, printed once on stderr, and the entry
holds its bcrypt hash.

Replies come to the user's own inbox prefix (_INBOX_NAME): clients must be
told it (nats --inbox-prefix, dprop --inbox-prefix).`,
		Example: `  dprop access user weather-app --role sidecar --cells 'weather.>' --nkey-out weather-app.nk
  dprop access user ops --role admin --password`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if nkeyOut == "" {
				nkeyOut = name + ".nk"
			}
			s := userSpec{Name: name, Role: role, Cells: cells, Auth: "nkey"}
			if password {
				s.Auth = "password"
			}
			u, secret, err := s.user(prefix, stream, func(string) string { return nkeyOut })
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), u.Entry())
			printConnectHelp(cmd.ErrOrStderr(), u, secret)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&role, "role", "", roleHelp)
	fl.StringVar(&cells, "cells", ">", `cells the role applies to: a pattern such as "weather.>"`)
	fl.StringVar(&prefix, "prefix", cellname.DefaultPrefix, "subject prefix of cells")
	fl.StringVar(&stream, "stream", cellname.DefaultStream, "name of the stream keeping the update log")
	fl.StringVar(&nkeyOut, "nkey-out", "", "file for the NKey seed (default NAME.nk)")
	fl.BoolVar(&password, "password", false, "authenticate with a random password instead of an NKey")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func newAccessConfigCmd() *cobra.Command {
	var usersFile, out, secrets string
	cmd := &cobra.Command{
		Use:   "config --users FILE",
		Short: "Write a complete nats-server configuration for a set of users and roles",
		Long: `Write a nats-server configuration with one account holding the stream and
every user of --users (YAML) with the permissions of its role. The file is
what 'dprop broker --config' and 'nats-server -c' accept; the broker gives
itself its own identity to provision the stream.

The users file:

  account: DPROP          # optional
  prefix: dprop           # optional
  stream: DPROP           # optional
  users:
    - name: weather-app
      role: sidecar
      cells: weather.>
    - name: ops
      role: admin
      auth: password      # nkey (the default) or password

Secrets go to --secrets: NAME.nk (an NKey seed) or NAME.password, mode
0600. Existing ones are reused, so the configuration can be written again
after adding users without changing anyone's credentials.`,
		Example: `  dprop access config --users access.yaml --secrets ./secrets --out nats.conf`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(usersFile)
			if err != nil {
				return usageError{fmt.Errorf("--users: %w", err)}
			}
			var spec accessSpec
			dec := yaml.NewDecoder(strings.NewReader(string(b)))
			dec.KnownFields(true)
			if err := dec.Decode(&spec); err != nil && !errors.Is(err, io.EOF) {
				return usageError{fmt.Errorf("%s: %w", usersFile, err)}
			}
			if len(spec.Users) == 0 {
				return usageError{fmt.Errorf("%s: no users", usersFile)}
			}
			if err := os.MkdirAll(secrets, 0o700); err != nil {
				return err
			}
			seen := map[string]bool{}
			var users []broker.User
			for i, s := range spec.Users {
				if seen[s.Name] {
					return usageError{fmt.Errorf("%s: user %d: %q given twice", usersFile, i+1, s.Name)}
				}
				seen[s.Name] = true
				u, secret, err := s.user(spec.Prefix, spec.Stream, func(name string) string { return filepath.Join(secrets, name+".nk") })
				if err != nil {
					return usageError{fmt.Errorf("%s: user %d: %w", usersFile, i+1, err)}
				}
				if s.Auth == "password" {
					if err := writeSecret(filepath.Join(secrets, s.Name+".password"), secret+"\n"); err != nil {
						return err
					}
				}
				users = append(users, u)
			}
			conf := broker.ServerConfig(spec.Account, users)
			if out == "" || out == "-" {
				_, err := fmt.Fprint(cmd.OutOrStdout(), conf)
				return err
			}
			if err := os.WriteFile(out, []byte(conf), 0o640); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d users; secrets in %s)\n", out, len(users), secrets)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&usersFile, "users", "", "YAML file listing the users, their roles and cells")
	fl.StringVar(&out, "out", "-", "file to write the configuration to (- for stdout)")
	fl.StringVar(&secrets, "secrets", "secrets", "directory of the users' secrets (NKey seeds, passwords), mode 0700")
	_ = cmd.MarkFlagRequired("users")
	return cmd
}

// accessSpec is the users file of dprop access config.
type accessSpec struct {
	Account string     `yaml:"account"`
	Prefix  string     `yaml:"prefix"`
	Stream  string     `yaml:"stream"`
	Users   []userSpec `yaml:"users"`
}

// userSpec is one user: a name, a role on cells, a way to authenticate.
type userSpec struct {
	Name  string `yaml:"name"`
	Role  string `yaml:"role"`
	Cells string `yaml:"cells"`
	Auth  string `yaml:"auth"` // nkey (default) or password
}

// user makes the user s describes, with a new secret or the one kept
// already: for an NKey user the seed file (nkeyFile(name)) is made or
// read; for a password user a random password is made (or read from
// DIR/NAME.password by the config command) and returned.
func (s userSpec) user(prefix, stream string, nkeyFile func(string) string) (broker.User, string, error) {
	if s.Name == "" || strings.ContainsAny(s.Name, " \t\r\n.*>/") {
		return broker.User{}, "", fmt.Errorf("user name %q: want a name without spaces, dots, wildcards or slashes", s.Name)
	}
	if s.Cells == "" {
		s.Cells = ">"
	}
	scope := broker.Scope{Cells: s.Cells, Prefix: prefix, Stream: stream}
	if _, err := broker.RolePermissions(s.Role, broker.Scope{Cells: s.Cells, Inbox: "x"}); err != nil {
		return broker.User{}, "", err
	}
	switch s.Auth {
	case "", "nkey":
		path := nkeyFile(s.Name)
		kp, err := userKey(path)
		if err != nil {
			return broker.User{}, "", err
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return broker.User{}, "", err
		}
		u, err := broker.NewUser(s.Name, s.Role, scope, "", pub)
		return u, path, err
	case "password":
		pw, err := storedOrNewPassword(strings.TrimSuffix(nkeyFile(s.Name), ".nk") + ".password")
		if err != nil {
			return broker.User{}, "", err
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
		if err != nil {
			return broker.User{}, "", err
		}
		u, err := broker.NewUser(s.Name, s.Role, scope, string(hash), "")
		return u, pw, err
	}
	return broker.User{}, "", fmt.Errorf("user %s: auth %q: want nkey or password", s.Name, s.Auth)
}

// userKey reads the NKey user seed at path, or makes one and writes it
// there (mode 0600).
func userKey(path string) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		kp, err := nkeys.ParseDecoratedNKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return kp, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	return kp, writeSecret(path, string(seed)+"\n")
}

// storedOrNewPassword reads the password kept at path, or makes a new one.
func storedOrNewPassword(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	// Hex, not base64: a password that starts with "-" reads as a flag
	// to the nats CLI and to dprop ("expected argument for flag").
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(raw[:]), nil
}

// writeSecret writes a secret file readable by its owner only, refusing to
// replace an existing one.
func writeSecret(path, content string) error {
	if b, err := os.ReadFile(path); err == nil {
		if string(b) == content {
			return nil
		}
		return fmt.Errorf("%s exists with other content: not replaced", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// printConnectHelp tells how to connect as u with the nats CLI and dprop.
func printConnectHelp(w io.Writer, u broker.User, secret string) {
	auth := "--nkey " + secret
	if u.NKey == "" {
		fmt.Fprintf(w, "password of %s (shown once; the entry holds its hash): %s\n", u.Name, secret)
		auth = "--user " + u.Name + " --password='" + secret + "'"
	} else {
		fmt.Fprintf(w, "NKey seed of %s in %s (keep it secret; the entry holds the public key)\n", u.Name, secret)
	}
	fmt.Fprintf(w, "connect with:\n  nats %s --inbox-prefix %s ...\n  dprop replica %s --inbox-prefix %s --cells '%s' ...\n",
		auth, u.Scope.Inbox, auth, u.Scope.Inbox, u.Scope.Cells)
}
