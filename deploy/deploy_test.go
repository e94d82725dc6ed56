// Package deploy holds the deployment files; this test keeps them parseable
// and consistent with the binary (every YAML decodes, compose services use
// known subcommands, Kubernetes objects have the fields kubectl needs).
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

func TestKubernetesObjectsAreComplete(t *testing.T) {
	files, _ := filepath.Glob("k8s/*.yaml")
	for _, f := range files {
		for i, d := range decodeAll(t, f) {
			for _, k := range []string{"apiVersion", "kind", "metadata"} {
				if d[k] == nil {
					t.Errorf("%s doc %d: missing %s", f, i, k)
				}
			}
			md, _ := d["metadata"].(map[string]any)
			if md["name"] == nil {
				t.Errorf("%s doc %d: metadata.name missing", f, i)
			}
			// A ConfigMap's embedded portcheck.yaml must itself parse.
			if d["kind"] == "ConfigMap" {
				data, _ := d["data"].(map[string]any)
				for name, v := range data {
					var m map[string]any
					if err := yaml.Unmarshal([]byte(v.(string)), &m); err != nil {
						t.Errorf("%s: embedded %s: %v", f, name, err)
					}
				}
			}
		}
	}
}

func TestComposeUsesKnownCommands(t *testing.T) {
	known := map[string]bool{"serve": true, "worker": true, "agent": true, "shell": true, "check": true}
	docs := decodeAll(t, "compose.yaml")
	services, _ := docs[0]["services"].(map[string]any)
	if len(services) == 0 {
		t.Fatal("compose.yaml: no services")
	}
	for name, s := range services {
		svc := s.(map[string]any)
		cmd, ok := svc["command"].([]any)
		if !ok || svc["image"] == "redis:7-alpine" {
			continue
		}
		if !known[cmd[0].(string)] {
			t.Errorf("compose service %s runs unknown subcommand %q", name, cmd[0])
		}
	}
}
