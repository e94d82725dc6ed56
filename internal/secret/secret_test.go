package secret_test

import (
	"errors"
	"testing"

	"github.com/portcheck/portcheck/internal/secret"
)

func TestFromEnv(t *testing.T) {
	files := map[string]string{"/s/token": " tok\n", "/s/empty": "\n"}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, errors.New("no such file")
	}
	for _, tc := range []struct {
		env       map[string]string
		want, err string
	}{
		{map[string]string{"X": " v "}, "v", ""},
		{map[string]string{"X_FILE": "/s/token"}, "tok", ""},
		{map[string]string{}, "", ""},
		{map[string]string{"X": "v", "X_FILE": "/s/token"}, "", "set X or X_FILE, not both"},
		{map[string]string{"X_FILE": "/s/nope"}, "", "reading X_FILE: no such file"},
		{map[string]string{"X_FILE": "/s/empty"}, "", "X_FILE /s/empty is empty"},
	} {
		got, err := secret.FromEnv(func(k string) string { return tc.env[k] }, read, "X")
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("%v: %q, %v; want %q, %q", tc.env, got, err, tc.want, tc.err)
		}
	}
}
