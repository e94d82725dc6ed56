package redis

import (
	"context"

	"github.com/portcheck/portcheck/bot"
)

var _ bot.VantageWorkers = (*Store)(nil)

// VantageWorkers lists the live workers for `/portcheck vantages`
// (bot.VantageWorkers).
func (s *Store) VantageWorkers(ctx context.Context) ([]bot.WorkerInfo, error) {
	ws, err := s.Workers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]bot.WorkerInfo, 0, len(ws))
	for _, w := range ws {
		out = append(out, bot.WorkerInfo{Vantage: w.Name, Worker: w.Worker, Version: w.Version, Labels: w.Labels, LastSeen: w.LastSeen})
	}
	return out, nil
}
