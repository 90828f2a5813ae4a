//go:build !unix

package replica

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
