package bot

import (
	"testing"

	"github.com/portcheck/portcheck/store/storetest"
)

func TestLocalOutboxContract(t *testing.T) {
	storetest.TestOutbox(t, func(*testing.T) storetest.Outbox { return newLocalOutbox() })
}
