// Package deploy holds the deployment files (compose, Kubernetes, systemd,
// the Slack app manifest). Its tests keep them consistent with the binary:
// every YAML decodes; every command line a unit, service or container runs
// is accepted by the real binary's flag parser (cmdline_test.go); the
// Kubernetes manifests decode strictly into the Kubernetes API types and
// keep their invariants (k8s_test.go); compose decodes strictly and every
// variable it sets is one the binary reads (compose_test.go).
package deploy

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no YAML files under deploy/")
	}
	return files
}

// decodeAll returns every document of a (possibly multi-document) YAML file.
func decodeAll(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
}

func TestEveryYAMLParses(t *testing.T) {
	for _, f := range yamlFiles(t) {
		if docs := decodeAll(t, f); len(docs) == 0 {
			t.Errorf("%s: no YAML documents", f)
		}
	}
}
