package metrics

// Histogram bucket bounds, in seconds or bytes. Each set follows the 1,
// 2.5, 5 steps per decade, so histogram_quantile interpolates within a
// factor of 2.5 anywhere in the range, and spans what its operation takes
// on this appliance, from a cached read to a timeout.
var (
	// requestBuckets spans a GET answered from memory (about 50µs on
	// loopback) to a write waiting out an election (seconds).
	requestBuckets = []float64{
		50e-6, 100e-6, 250e-6, 500e-6,
		1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
		1, 2.5, 5,
	}

	// stageBuckets starts at 1µs: firewall, routing and serialization
	// take a few microseconds, and a Raft commit up to a second.
	stageBuckets = []float64{
		1e-6, 2.5e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
		1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
		1,
	}

	// fsyncBuckets spans an fsync absorbed by a write cache (10µs) to a
	// saturated or failing disk (1s).
	fsyncBuckets = []float64{
		10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
		1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
		1,
	}

	// luaBuckets spans a one-line validate rule (a few µs) to the call
	// budget (50ms by default) and past it, for a raised budget.
	luaBuckets = []float64{
		5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
		1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
		1,
	}

	// snapshotBuckets spans an empty state (1ms) to a large one written
	// to a slow disk (5 minutes).
	snapshotBuckets = []float64{
		1e-3, 10e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30, 60, 120, 300,
	}

	// sizeBuckets spans an empty body to a 16MiB list response, by
	// factors of 4; request bodies stop at http.max_body (1MiB by
	// default).
	sizeBuckets = []float64{
		64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20,
	}
)
