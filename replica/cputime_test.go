package replica

import (
	"time"

	"github.com/dprop/dprop/internal/brokertest"
)

// cpuTime is the CPU time this process has used (brokertest.CPUTime).
func cpuTime() time.Duration { return brokertest.CPUTime() }
