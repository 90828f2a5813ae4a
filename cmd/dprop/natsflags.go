package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
)

// natsFlags say how to reach NATS, for the commands that talk to it
// directly (replica, replay, restore, compact).
type natsFlags struct {
	conn broker.ConnConfig
}

func (f *natsFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.conn.URLs, "nats-url", defaultNatsURLs(), "NATS server URLs, comma-separated (env NATS_URL, as for the nats CLI)")
	fl.StringVar(&f.conn.CredsFile, "creds", "", "NATS credentials file (user JWT and NKey seed)")
	fl.StringVar(&f.conn.NKeyFile, "nkey", "", "file holding a user NKey seed")
	fl.StringVar(&f.conn.User, "user", "", "NATS user")
	fl.StringVar(&f.conn.Password, "password", "", "NATS password")
	fl.StringVar(&f.conn.Token, "token", "", "NATS authorization token")
	fl.StringVar(&f.conn.InboxPrefix, "inbox-prefix", "", "prefix of the subjects replies come to (a user whose permissions allow only its own inbox, such as _INBOX_<user> from dprop access, must give it)")
	fl.StringVar(&f.conn.CAFile, "tlsca", "", "PEM file of CAs trusted to sign the server's certificate")
	fl.StringVar(&f.conn.CertFile, "tlscert", "", "client certificate (PEM), for servers that verify clients")
	fl.StringVar(&f.conn.KeyFile, "tlskey", "", "client certificate's key (PEM)")
}

// defaultNatsURLs are those of $NATS_URL (comma-separated), the nats
// CLI's convention, or else the embedded broker's default address.
func defaultNatsURLs() []string {
	if u := os.Getenv("NATS_URL"); u != "" {
		return strings.Split(u, ",")
	}
	return []string{broker.DefaultURL}
}

// connect connects as name. Credential and TLS files are checked first: a
// wrong one is a usage error that says what is wrong with it. The
// connection's health is followed by f.conn.Watch.
func (f *natsFlags) connect(log *slog.Logger, name string, retry bool) (*nats.Conn, error) {
	if err := f.conn.CheckFiles(); err != nil {
		return nil, usageError{err}
	}
	f.conn.Watch = &broker.ConnWatch{}
	c := f.conn
	c.Name = name
	c.RetryOnFailedConnect = retry
	nc, err := broker.Connect(c, log)
	if err != nil {
		return nil, fmt.Errorf("%w (is a broker running? start one with 'dprop up' or 'dprop broker', or give --nats-url)", err)
	}
	return nc, nil
}

// parseTime reads an RFC 3339 time, or a duration meaning that long ago.
func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, usagef("%s %q: give an RFC 3339 time (2026-11-25T09:00:00Z) or a duration ago (90m)", flag, s)
}
