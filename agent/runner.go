package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Runner runs one read-only listing tool with fixed arguments and returns
// its standard output. It is an interface so tests feed fixture listings.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ToolError is why a listing tool gave no answer. Kind lets the caller say
// "needs CAP_NET_ADMIN" instead of dumping stderr.
type ToolError struct {
	Tool   string
	Kind   ToolErrorKind
	Stderr string
	Err    error
}

// ToolErrorKind classifies a ToolError.
type ToolErrorKind int

const (
	ToolFailed       ToolErrorKind = iota // ran and failed for another reason
	ToolNotInstalled                      // not on this host
	ToolNeedsPriv                         // EPERM/EACCES: the agent lacks a capability
)

func (e *ToolError) Error() string {
	switch e.Kind {
	case ToolNotInstalled:
		return e.Tool + ": not installed"
	case ToolNeedsPriv:
		return e.Tool + ": not enough privilege: " + e.Stderr
	}
	if e.Stderr != "" {
		return fmt.Sprintf("%s: %v: %s", e.Tool, e.Err, e.Stderr)
	}
	return fmt.Sprintf("%s: %v", e.Tool, e.Err)
}

func (e *ToolError) Unwrap() error { return e.Err }

// toolErrorKind returns the kind of err, ToolFailed when it is no ToolError.
func toolErrorKind(err error) ToolErrorKind {
	var te *ToolError
	if errors.As(err, &te) {
		return te.Kind
	}
	return ToolFailed
}

// ExecRunner runs tools directly with os/exec: no shell, so no quoting and
// no injection, and the arguments are constants of this package.
type ExecRunner struct{}

// Run executes name with args and classifies the usual failures.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, &ToolError{Tool: name, Kind: ToolNotInstalled, Err: err}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		kind := ToolFailed
		if looksLikePrivilege(msg) {
			kind = ToolNeedsPriv
		}
		return stdout.Bytes(), &ToolError{Tool: name, Kind: kind, Stderr: msg, Err: err}
	}
	return stdout.Bytes(), nil
}

// looksLikePrivilege recognises the tools' wording for EPERM/EACCES:
// iptables "Permission denied (you must be root)", nft "Operation not
// permitted", ufw "You need to be root to run this script".
func looksLikePrivilege(stderr string) bool {
	s := strings.ToLower(stderr)
	for _, w := range []string{"permission denied", "operation not permitted", "must be root", "need to be root"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
