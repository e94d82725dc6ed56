// Package secret reads a chat credential from the environment: NAME, or
// the file named by NAME_FILE (Docker and Kubernetes secrets). The one
// reader every chat adapter uses, so they refuse the same mistakes the
// same way.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// FromEnv returns NAME's value, or the trimmed content of the file
// NAME_FILE names (read with readFile; nil: os.ReadFile). Both at once is ambiguous and refused, as is an empty
// file; a missing one is an error that names the variable (the path is not
// secret, the content would be).
func FromEnv(getenv func(string) string, readFile func(string) ([]byte, error), name string) (string, error) {
	v, file := strings.TrimSpace(getenv(name)), strings.TrimSpace(getenv(name+"_FILE"))
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("set %s or %s_FILE, not both", name, name)
	case file != "":
		if readFile == nil {
			readFile = os.ReadFile
		}
		b, err := readFile(file)
		if err != nil {
			return "", fmt.Errorf("reading %s_FILE: %w", name, err)
		}
		if v = strings.TrimSpace(string(b)); v == "" {
			return "", fmt.Errorf("%s_FILE %s is empty", name, file)
		}
	}
	return v, nil
}
