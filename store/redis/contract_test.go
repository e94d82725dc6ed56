package redis_test

import (
	"testing"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/store/storetest"
	"github.com/portcheck/portcheck/wire"
)

// One server per contract suite; every subtest's store has its own prefix.

func TestQueueContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.TestQueue(t, func(t *testing.T) wire.Queue { return open(t, srv, rstore.Options{}).Queue() })
}

func TestResultsContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.TestResults(t, func(t *testing.T) wire.Results { return open(t, srv, rstore.Options{}).Results() })
}

func TestClaimsContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.TestClaims(t, func(t *testing.T) wire.Claims { return open(t, srv, rstore.Options{}) })
}

func TestOutboxContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.TestOutbox(t, func(t *testing.T) storetest.Outbox { return open(t, srv, rstore.Options{}) })
}
