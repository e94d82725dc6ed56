package ttl_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/ttl"
)

func TestCache(t *testing.T) {
	now := time.Unix(0, 0)
	c := ttl.New[int](func() time.Time { return now }, 3)
	if !c.Add("a", 1, time.Minute) || c.Add("a", 2, time.Minute) {
		t.Fatal("Add: the first add stores, the second does not")
	}
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Errorf("Get = %d %v", v, ok)
	}
	now = now.Add(time.Minute)
	if c.Has("a") || !c.Add("a", 3, time.Minute) {
		t.Error("an expired key is gone and may be added again")
	}
	c.Set("b", 4, 2*time.Minute)
	c.Set("c", 5, 3*time.Minute)
	c.Set("d", 6, 4*time.Minute) // full: "a" expires first and goes
	if c.Has("a") || !c.Has("b") || !c.Has("d") {
		t.Errorf("bound: a %v b %v d %v", c.Has("a"), c.Has("b"), c.Has("d"))
	}
}

func TestCacheStaysBounded(t *testing.T) {
	c := ttl.New[struct{}](nil, 100)
	for i := range 10_000 {
		c.Add(fmt.Sprint(i), struct{}{}, time.Hour)
	}
	n := 0
	for i := range 10_000 {
		if c.Has(fmt.Sprint(i)) {
			n++
		}
	}
	if n > 100 {
		t.Errorf("%d keys kept, want at most 100", n)
	}
}
