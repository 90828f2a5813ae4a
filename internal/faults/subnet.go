package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
)

// FreeSubnet picks a /24 under 10.213.0.0/16 that overlaps no docker
// network and no address of this host. The fault tests give their broker
// network a subnet of their own because `docker network connect --ip`,
// which puts a container back at the address it had, needs one.
func FreeSubnet(ctx context.Context) (string, error) {
	used, err := usedPrefixes(ctx)
	if err != nil {
		return "", err
	}
	start := rand.IntN(256)
	for i := range 256 {
		p := netip.MustParsePrefix(fmt.Sprintf("10.213.%d.0/24", (start+i)%256))
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p.String(), nil
		}
	}
	return "", errors.New("no free /24 under 10.213.0.0/16")
}

// usedPrefixes lists the subnets of docker's networks and of this host's
// interfaces.
func usedPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	var used []netip.Prefix
	ids, err := Docker(ctx, "network", "ls", "-q")
	if err != nil {
		return nil, err
	}
	if f := strings.Fields(ids); len(f) > 0 {
		out, err := Docker(ctx, append([]string{"network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, f...)...)
		if err != nil {
			return nil, err
		}
		for _, s := range strings.Fields(out) {
			if p, err := netip.ParsePrefix(s); err == nil {
				used = append(used, p)
			}
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			used = append(used, p.Masked())
		}
	}
	return used, nil
}
