package memory_test

import (
	"testing"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/store/storetest"
	"github.com/portcheck/portcheck/wire"
)

func TestQueueContract(t *testing.T) {
	storetest.TestQueue(t, func(*testing.T) wire.Queue { return memory.NewQueue() })
}

func TestResultsContract(t *testing.T) {
	storetest.TestResults(t, func(*testing.T) wire.Results { return memory.NewResults() })
}

func TestAuditContract(t *testing.T) {
	storetest.TestAudit(t, func(*testing.T) audit.Trail { return memory.NewAudit() })
}

func TestClaimsContract(t *testing.T) {
	storetest.TestClaims(t, func(*testing.T) wire.Claims { return memory.NewClaims() })
}
