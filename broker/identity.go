package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// identity is how the broker's own connections authenticate to its server:
// provisioning the stream, and the replica of `dprop up`. On a server with
// authorization Start gives the broker a user of its own, made at start and
// never written anywhere, with every right in the stream's account; its
// connections are in process, so TLS does not apply to them either.
type identity struct {
	user, password, token string
}

// DefaultAccount is the account a server configuration from
// ServerConfig holds its users and the stream in: Start gives the broker
// its own identity there when the configuration has such an account.
const DefaultAccount = "DPROP"

// ErrNoIdentity is returned by Server.Connect on a server whose
// authorization the broker cannot join by itself (operator mode, with
// JWTs): give the broker's connections a credential of their own.
var ErrNoIdentity = errors.New("the broker has no identity of its own on this server (operator mode)")

// addIdentity adds the broker's own user to opts when the server demands
// authorization, and returns how to authenticate as it (nil when nothing
// is demanded). users are added too, in the same account.
func (c *Config) addIdentity(opts *server.Options, users []User) (*identity, error) {
	if len(opts.TrustedOperators) > 0 || len(opts.TrustedKeys) > 0 {
		if len(users) > 0 {
			return nil, errors.New("users cannot be added to a server in operator mode: issue them with nsc")
		}
		return nil, nil
	}
	if opts.Authorization != "" && len(users) == 0 {
		return &identity{token: opts.Authorization}, nil
	}
	if opts.Username != "" {
		// A single user: nats-server takes a users list or one user, not
		// both, so the one becomes the first of a list.
		opts.Users = append(opts.Users, &server.User{Username: opts.Username, Password: opts.Password})
		opts.Username, opts.Password = "", ""
	}
	for _, u := range users {
		if err := addUser(opts, u, c.account(opts)); err != nil {
			return nil, err
		}
	}
	if len(opts.Users) == 0 && len(opts.Nkeys) == 0 {
		return nil, nil // no authorization
	}
	var pw [24]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, fmt.Errorf("broker identity: %w", err)
	}
	id := &identity{user: "dprop-broker-" + hex.EncodeToString(pw[:4]), password: hex.EncodeToString(pw[4:])}
	opts.Users = append(opts.Users, &server.User{Username: id.user, Password: id.password, Account: c.account(opts)})
	return id, nil
}

// account returns the account the broker's identity and Config.Users go
// in: Config.Account, else DefaultAccount when the configuration has one,
// else nil (the global account).
func (c *Config) account(opts *server.Options) *server.Account {
	name := c.Account
	if name == "" {
		name = DefaultAccount
	}
	for _, a := range opts.Accounts {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// addUser adds u to opts, in account acc.
func addUser(opts *server.Options, u User, acc *server.Account) error {
	var perms *server.Permissions
	if !u.Permissions.All() {
		perms = &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: u.Permissions.Publish},
			Subscribe: &server.SubjectPermission{Allow: u.Permissions.Subscribe},
		}
	}
	switch {
	case u.NKey != "":
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: u.NKey, Permissions: perms, Account: acc})
	case u.PasswordHash != "":
		opts.Users = append(opts.Users, &server.User{Username: u.Name, Password: u.PasswordHash, Permissions: perms, Account: acc})
	default:
		return fmt.Errorf("user %s: no NKey and no password hash", u.Name)
	}
	return nil
}

// Connect connects to this server in process, as the broker itself: with
// every right in the stream's account whatever the server's authorization
// (see Config), and without TLS, since nothing leaves the process. cfg
// gives the connection's name, logger hooks and Watch; its URLs and
// credentials are not used. On a server in operator mode it returns
// ErrNoIdentity.
func (s *Server) Connect(cfg ConnConfig, logger *slog.Logger) (*nats.Conn, error) {
	if s.noIdentity {
		return nil, fmt.Errorf("broker: connect: %w", ErrNoIdentity)
	}
	// The URL names the server in logs only; its scheme must not be tls,
	// which would make the client insist on TLS that in-process
	// connections do without.
	cfg.URLs = []string{"nats://" + strings.TrimPrefix(strings.TrimPrefix(s.ClientURL(), "tls://"), "nats://")}
	cfg.CredsFile, cfg.NKeyFile, cfg.User, cfg.Password, cfg.Token = "", "", "", "", ""
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = "", "", ""
	if id := s.identity; id != nil {
		cfg.User, cfg.Password, cfg.Token = id.user, id.password, id.token
	}
	return connect(cfg, logger, nats.InProcessServer(s.ns))
}
