package dashboard

import (
	"container/list"
	"sync"

	"github.com/tdsc/tdsc/audit"
)

// reportKey identifies a cached report: the tree it covers, the window and
// the minute overdue duties were judged at.
type reportKey struct {
	size          uint64
	from, to, now int64
}

// reportCache is a small LRU of flow reports; building one over 100,000
// records takes a fraction of a second, serving it again takes nothing.
type reportCache struct {
	mu    sync.Mutex
	cap   int
	order *list.List // of reportKey, most recent at the front
	items map[reportKey]*cacheEntry
}

type cacheEntry struct {
	el   *list.Element
	once sync.Once
	rep  audit.Report
}

func newReportCache(n int) *reportCache {
	return &reportCache{cap: n, order: list.New(), items: map[reportKey]*cacheEntry{}}
}

// get returns the cached report for k, building it once with build.
func (c *reportCache) get(k reportKey, build func() audit.Report) audit.Report {
	c.mu.Lock()
	e := c.items[k]
	if e != nil {
		c.order.MoveToFront(e.el)
	} else {
		e = &cacheEntry{el: c.order.PushFront(k)}
		c.items[k] = e
		if c.order.Len() > c.cap {
			old := c.order.Back()
			c.order.Remove(old)
			delete(c.items, old.Value.(reportKey))
		}
	}
	c.mu.Unlock()
	e.once.Do(func() { e.rep = build() })
	return e.rep
}
