package memory_test

import (
	"testing"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/store/storetest"
)

func TestQueueContract(t *testing.T) {
	storetest.TestQueue(t, func(*testing.T) bot.Queue { return memory.NewQueue() })
}

func TestResultsContract(t *testing.T) {
	storetest.TestResults(t, func(*testing.T) bot.Results { return memory.NewResults() })
}

func TestAuditContract(t *testing.T) {
	storetest.TestAudit(t, func(*testing.T) bot.Audit { return memory.NewAudit() })
}

func TestClaimsContract(t *testing.T) {
	storetest.TestClaims(t, func(*testing.T) bot.Claims { return memory.NewClaims() })
}
