package brokertest

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Ports the kernel hands out by itself (a listener on port 0, the local
// end of an outgoing connection) may be taken by any connection the test
// makes, even by a client reconnecting to a stopped server, which can then
// connect to itself. So the helpers listen on ports below that range,
// picked at random and checked free, and try again with others in the
// rare case another process takes one first.
const (
	lowestPort = 10000
	startTries = 5
)

// freePorts returns n distinct ports of 127.0.0.1 that are free now, below
// the kernel's range of ephemeral ports when there is room for that.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	hi := ephemeralLow()
	ports := make([]int, 0, n)
	taken := map[int]bool{}
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("brokertest: found no free ports from %d to %d", lowestPort, hi)
		}
		p := 0 // let the kernel choose, when there is no room below its range
		if hi-lowestPort >= 1000 {
			p = lowestPort + rand.IntN(hi-lowestPort)
		}
		if taken[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		defer l.Close() // held until all are picked, so they differ
		p = l.Addr().(*net.TCPAddr).Port
		taken[p] = true
		ports = append(ports, p)
	}
	return ports
}

// ephemeralLow returns the first port of the kernel's ephemeral range.
// Linux says; other systems start at 49152 (the IANA range) or above.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return low
}

// portInUse reports whether err says a port was taken.
func portInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}
