package broker

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dprop/dprop/cellname"
)

// Roles a NATS user may have on a subtree of cells. Their subject
// permissions are worked out here, and only here (RolePermissions):
//
//   - RoleWriter may refine the cells: publish to their subjects (which is
//     all `nats pub` needs), and hear JetStream's acknowledgements on its
//     own inbox.
//   - RoleReader may follow the cells: what a replica of the subtree needs
//     (look the stream up, create ordered consumers filtered to the subtree
//     and pull from them, read the last message of its subjects directly,
//     subscribe to the subjects), and nothing that can change or delete
//     the stream or its messages, nor read other cells.
//   - RoleSidecar is a reader and a writer of the subtree: what `dprop
//     replica` needs, propagators included.
//   - RoleAdmin may do everything in the account: manage the stream,
//     compact (which purges), restore, read and write every cell.
const (
	RoleWriter  = "writer"
	RoleReader  = "reader"
	RoleSidecar = "sidecar"
	RoleAdmin   = "admin"
)

// Roles lists the roles.
var Roles = []string{RoleWriter, RoleReader, RoleSidecar, RoleAdmin}

// ErrUnknownRole is wrapped when a role is none of Roles.
var ErrUnknownRole = errors.New("unknown role")

// Scope is what a role's permissions apply to.
type Scope struct {
	// Cells is the pattern of cells ("weather.>"; ">" for all).
	Cells string
	// Prefix and Stream are the subject prefix and the stream's name
	// (defaults cellname.DefaultPrefix and cellname.DefaultStream).
	Prefix string
	Stream string
	// Inbox is the user's inbox prefix: replies (acknowledgements,
	// consumer deliveries) come to Inbox.>, and only this user may
	// subscribe there, so no one reads another's replies. Clients must be
	// told to use it (nats --inbox-prefix, dprop --inbox-prefix,
	// nats.CustomInboxPrefix). Default InboxFor(user).
	Inbox string
}

// InboxFor returns the inbox prefix of a user's replies: _INBOX_<name>,
// with characters that may not appear in a subject token replaced by '_'.
func InboxFor(user string) string {
	return "_INBOX_" + strings.Map(func(r rune) rune {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r > '~' {
			return '_'
		}
		return r
	}, user)
}

// Permissions are a NATS user's subject permissions: what it may publish
// to and subscribe to (allow lists; everything else is denied).
type Permissions struct {
	Publish   []string
	Subscribe []string
	// Responses lets the user answer each request it receives once, on
	// the request's reply subject, whatever that is (nats-server's
	// allow_responses): what a sidecar serving operations over NATS needs.
	Responses bool
}

// All reports whether p allows everything (an admin's).
func (p Permissions) All() bool {
	return slices.Equal(p.Publish, []string{">"}) && slices.Equal(p.Subscribe, []string{">"})
}

// RolePermissions returns the subject permissions of role on the scope.
func RolePermissions(role string, s Scope) (Permissions, error) {
	if s.Cells == "" {
		s.Cells = ">"
	}
	if err := cellname.ValidatePattern(s.Cells); err != nil {
		return Permissions{}, fmt.Errorf("role %s: %w", role, err)
	}
	if s.Prefix == "" {
		s.Prefix = cellname.DefaultPrefix
	}
	if s.Stream == "" {
		s.Stream = cellname.DefaultStream
	}
	if s.Inbox == "" && role != RoleAdmin {
		return Permissions{}, fmt.Errorf("role %s: an inbox prefix is required", role)
	}
	subjects := cellname.NewSubjects(s.Prefix)
	cells := subjects.Subject(s.Cells)
	// A replica follows every subject of its cells, of every kind (updates
	// and forget markers), in stream order, with one filter.
	anyKind := subjects.Any(s.Cells)
	api := "$JS.API."
	// Operations over NATS (the dprop micro service): a writer may send
	// them, a sidecar serves them and answers service discovery.
	ops := s.Prefix + ".op." + s.Cells
	writer := Permissions{
		Publish:   []string{cells, ops},
		Subscribe: []string{s.Inbox + ".>"},
	}
	reader := Permissions{
		Publish: []string{
			api + "STREAM.INFO." + s.Stream,
			// Consumers only with a filter inside the subtree: the filter
			// is part of the request's subject, and the server checks that
			// it is the consumer's.
			api + "CONSUMER.CREATE." + s.Stream + ".*." + anyKind,
			api + "CONSUMER.MSG.NEXT." + s.Stream + ".*",
			api + "CONSUMER.INFO." + s.Stream + ".*",
			// The last message of a subject of the subtree (direct get by
			// subject names the subject in the request's subject).
			api + "DIRECT.GET." + s.Stream + "." + anyKind,
		},
		Subscribe: []string{s.Inbox + ".>", cells},
	}
	if s.Cells == ">" {
		// A replica of every cell reads the stream unfiltered: nats-server
		// reads a filtered consumer twenty times slower.
		reader.Publish = append(reader.Publish, api+"CONSUMER.CREATE."+s.Stream+".*")
	}
	switch role {
	case RoleWriter:
		return writer, nil
	case RoleReader:
		return reader, nil
	case RoleSidecar:
		// Sidecars that share a network's propagators announce themselves
		// to each other on <prefix>.members (replica/members.go).
		members := s.Prefix + ".members"
		return Permissions{
			Publish:   append(append(slices.Clone(reader.Publish), writer.Publish...), members),
			Subscribe: append(slices.Clone(reader.Subscribe), ops, "$SRV.>", members),
			Responses: true,
		}, nil
	case RoleAdmin:
		return Permissions{Publish: []string{">"}, Subscribe: []string{">"}}, nil
	}
	return Permissions{}, fmt.Errorf("%w %q (want one of %s)", ErrUnknownRole, role, strings.Join(Roles, ", "))
}

// User is one entry of a nats-server configuration's users list: a name
// (or an NKey) with its credential and permissions.
type User struct {
	// Name is the user's name (with a password), or a label (with an
	// NKey: written as a comment, nats-server knows NKey users by key).
	Name string
	// PasswordHash is a bcrypt hash of the password (nats-server accepts
	// hashes where it accepts passwords); or NKey, a user's public key.
	PasswordHash string
	NKey         string
	Role         string
	Scope        Scope
	Permissions  Permissions
}

// NewUser returns the user name with role on scope (its inbox defaulting
// to InboxFor(name)), authenticated by a bcrypt password hash or an NKey
// public key (exactly one).
func NewUser(name, role string, scope Scope, passwordHash, nkey string) (User, error) {
	if name == "" {
		return User{}, errors.New("user: empty name")
	}
	if (passwordHash == "") == (nkey == "") {
		return User{}, fmt.Errorf("user %s: give a password hash or an NKey, not both or neither", name)
	}
	if scope.Inbox == "" {
		scope.Inbox = InboxFor(name)
	}
	perms, err := RolePermissions(role, scope)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return User{Name: name, PasswordHash: passwordHash, NKey: nkey, Role: role, Scope: scope, Permissions: perms}, nil
}

// Entry renders u as an entry of a nats-server configuration's users
// list.
func (u User) Entry() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %s of cells %s; inbox prefix %s\n", u.Name, u.Role, u.Scope.Cells, u.Scope.Inbox)
	if u.NKey != "" {
		fmt.Fprintf(&b, "{ nkey: %s", strconv.Quote(u.NKey))
	} else {
		fmt.Fprintf(&b, "{ user: %s, password: %s", strconv.Quote(u.Name), strconv.Quote(u.PasswordHash))
	}
	if u.Permissions.All() {
		b.WriteString(" }\n")
		return b.String()
	}
	list := func(subjects []string) string {
		q := make([]string, len(subjects))
		for i, s := range subjects {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	responses := ""
	if u.Permissions.Responses {
		responses = "    allow_responses: true\n"
	}
	fmt.Fprintf(&b, ",\n  permissions: {\n    publish: { allow: %s }\n    subscribe: { allow: %s }\n%s  }\n}\n",
		list(u.Permissions.Publish), list(u.Permissions.Subscribe), responses)
	return b.String()
}

// ServerConfig renders a complete nats-server configuration holding users
// in one account (account, "DPROP" if empty) with JetStream enabled: what
// `dprop broker --config` and `nats-server -c` accept. The server's own
// settings (listen address, store directory, cluster) come from the flags
// of dprop broker, or may be added to the file.
func ServerConfig(account string, users []User) string {
	if account == "" {
		account = "DPROP"
	}
	var b strings.Builder
	b.WriteString("# nats-server configuration written by `dprop access config`.\n")
	b.WriteString("# Each user may do what its role allows on its cells, nothing else (see docs/security.md).\n")
	b.WriteString("jetstream: enabled\n\n")
	fmt.Fprintf(&b, "accounts {\n  %s {\n    jetstream: enabled\n    users: [\n", account)
	for _, u := range users {
		for line := range strings.SplitSeq(strings.TrimRight(u.Entry(), "\n"), "\n") {
			b.WriteString("      " + line + "\n")
		}
	}
	b.WriteString("    ]\n  }\n}\n")
	return b.String()
}
