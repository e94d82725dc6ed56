package netlab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// runner executes the lab's setup commands (ip, iptables, sysctl). Only the
// lab itself shells out; product code never does.
type runner struct {
	log func(string)
}

func (r runner) do(ctx context.Context, name string, args ...string) error {
	_, err := r.output(ctx, name, args...)
	return err
}

func (r runner) output(ctx context.Context, name string, args ...string) (string, error) {
	return r.run(ctx, "", name, args...)
}

// input runs a command with stdin (iptables-restore rules).
func (r runner) input(ctx context.Context, stdin, name string, args ...string) error {
	_, err := r.run(ctx, stdin, name, args...)
	return err
}

func (r runner) run(ctx context.Context, stdin, name string, args ...string) (string, error) {
	line := name + " " + strings.Join(args, " ")
	if stdin != "" {
		line += " <<EOF\n" + stdin + "EOF"
	}
	if r.log != nil {
		r.log(line)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netlab: %s: %w: %s", line, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
