package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/replica"
)

// checkNetworks checks --networks: a pattern of network names, and cells
// that include the networks' own.
func (f *sidecarFlags) checkNetworks() error {
	if strings.Contains(f.networks, ".") || cellname.ValidatePattern(f.networks) != nil {
		return usagef("--networks %q: want a network name or a pattern of one token, such as weather or *", f.networks)
	}
	if !cellname.Match(cellsOrAll(f.cells), netCellPrefix+"x") {
		return usagef("--networks needs --cells to hold the networks' cells %s* (the default, >, does)", netCellPrefix)
	}
	return nil
}

// liveNetwork is a built network as a replica runs it.
func liveNetwork(name string, b *network.Built, shared bool) replica.Network {
	n := replica.Network{Name: name, Propagators: b.Propagators, Initial: b.Initial, Fingerprints: b.Fingerprints,
		Shared: shared, TypeOf: b.TypeOf}
	for _, t := range b.Templates {
		n.Templates = append(n.Templates, t)
	}
	return n
}

// followNetworks runs the networks of the log whose names match pattern,
// and follows their changes until ctx ends: an apply sets the network
// (what changed restarts, the rest runs on), a removal stops it, and a
// definition that does not check is reported and leaves the one running
// as it is. With selectors (--propagators), only those groups or names
// run, pinned here; otherwise the network is shared with the other
// replicas that run it.
func followNetworks(ctx context.Context, log *slog.Logger, rep *replica.Replica, pattern string, selectors []string) {
	w, err := rep.Watch(netCellPrefix+pattern, true)
	if err != nil {
		log.Error("cannot follow the networks of the log", "networks", pattern, "err", err)
		return
	}
	defer w.Close()
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, replica.ErrClosed) {
				log.Error("stopped following the networks of the log", "err", err)
			}
			return
		}
		name := strings.TrimPrefix(ev.Cell, netCellPrefix)
		d, err := decodeNetDef(ev.Value)
		switch {
		case err != nil:
			log.Error("network in the log not understood; the one running (if any) is kept", "network", name, "seq", ev.Seq, "err", err)
			continue
		case d == nil || ev.Forgotten:
			if rep.RemoveNetwork(name) {
				log.Info("network removed from the log: its propagators stopped", "network", name)
			}
			continue
		}
		if err := setLogNetwork(rep, name, d, selectors); err != nil {
			log.Error("network in the log not loaded; the one running (if any) is kept", "network", name, "seq", ev.Seq, "err", err)
		}
	}
}

func setLogNetwork(rep *replica.Replica, name string, d *netDef, selectors []string) error {
	n, err := network.Parse(name+" (from "+d.File+")", []byte(d.Source))
	if err != nil {
		return err
	}
	none := len(selectors) == 1 && selectors[0] == "none"
	if none {
		rep.RemoveNetwork(name)
		return nil
	}
	b, err := n.Build(selectors...)
	if err != nil {
		return err
	}
	return rep.SetNetwork(liveNetwork(name, b, len(selectors) == 0))
}
