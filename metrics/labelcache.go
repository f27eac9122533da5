package metrics

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	// maxLabelValues bounds the distinct values of one label (a model, a
	// reason, a Lua kind). Models come from the rule files and reasons
	// from code, so a real appliance stays far below it.
	maxLabelValues = 256
	// maxRoutes bounds the route/method pairs of the HTTP metrics. Each
	// pair costs about 45 series (three histograms and the codes).
	maxRoutes = 512
	// overflowValue is the label value that takes the observations past
	// the bound.
	overflowValue = "_other"
)

// labelCache maps a label value to the metric of a vector that carries
// it, so that the hot path calls WithLabelValues once per value rather
// than once per observation. Readers load the map with one atomic load
// and never lock; a new value copies the map under mu. The copies cost
// O(n²) over the cache's life, which the bound keeps trivial.
type labelCache[K comparable, V any] struct {
	m        atomic.Pointer[map[K]V]
	mu       sync.Mutex
	create   func(K) V
	limit    int
	overflow K
	// folded counts the observations sent to overflow.
	folded prometheus.Counter
}

func newLabelCache[K comparable, V any](limit int, overflow K, folded prometheus.Counter, create func(K) V) *labelCache[K, V] {
	return &labelCache[K, V]{create: create, limit: limit, overflow: overflow, folded: folded}
}

// get returns the metric for k, creating it on first use.
func (c *labelCache[K, V]) get(k K) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	return c.add(k)
}

func (c *labelCache[K, V]) add(k K) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if v, ok := old[k]; ok {
		return v
	}
	if len(old) >= c.limit && k != c.overflow {
		// Past the bound every unseen value comes here and takes mu: a
		// misuse path, counted so that it shows.
		c.folded.Inc()
		if v, ok := old[c.overflow]; ok {
			return v
		}
		k = c.overflow
	}
	v := c.create(k)
	next := make(map[K]V, len(old)+1)
	for ok, ov := range old {
		next[ok] = ov
	}
	next[k] = v
	c.m.Store(&next)
	return v
}

// labelValue makes s acceptable to client_golang, which panics on a label
// value that is not valid UTF-8: a model name from a rule file must not be
// able to crash a request through the metrics.
func labelValue(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
