package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/dprop/dprop/broker"
)

// listenHTTP binds the HTTP API's address, saying which flag to change if
// another process holds it. up and replica bind it before anything else,
// so that a second dprop on the same address fails before it has created
// a data directory or connected anywhere.
func listenHTTP(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = op.Err // without "listen tcp ADDR:", which the message says
		}
		return nil, inUse(err, "the HTTP API", addr, "--http")
	}
	return ln, nil
}

// brokerError says which flag to change when the embedded broker cannot
// listen; flags maps a broker listener (broker.ListenerClient, ...) to its
// flag. Other errors are returned as they are.
func brokerError(err error, flags map[string]string) error {
	var le *broker.ListenError
	if !errors.As(err, &le) {
		return err
	}
	what := map[string]string{
		broker.ListenerClient:  "NATS clients",
		broker.ListenerCluster: "cluster routes",
		broker.ListenerMonitor: "NATS monitoring",
	}[le.Listener]
	if flag := flags[le.Listener]; flag != "" {
		return inUse(le.Err, what, le.Addr, flag)
	}
	return err
}

// inUse says what could not listen where, and which flag sets the address;
// when the address is in use, it also says what to do.
func inUse(cause error, what, addr, flag string) error {
	if errors.Is(cause, syscall.EADDRINUSE) {
		return fmt.Errorf("cannot listen for %s on %s: %w\n"+
			"Another dprop may be running there: stop it, or choose another address with %s",
			what, addr, cause, flag)
	}
	return fmt.Errorf("cannot listen for %s on %s (set by %s): %w", what, addr, flag, cause)
}
