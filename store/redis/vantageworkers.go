package redis

import (
	"context"

	"github.com/portcheck/portcheck/wire"
)

// VantageWorkers lists the live workers for `/portcheck vantages`
// (the bot's VantageWorkers).
func (s *Store) VantageWorkers(ctx context.Context) ([]wire.WorkerInfo, error) {
	ws, err := s.Workers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wire.WorkerInfo, 0, len(ws))
	for _, w := range ws {
		out = append(out, wire.WorkerInfo{Vantage: w.Name, Worker: w.Worker, Version: w.Version, Labels: w.Labels, LastSeen: w.LastSeen})
	}
	return out, nil
}
