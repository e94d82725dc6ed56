package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/portcheck/portcheck/config"
)

// The Kubernetes manifests are checked offline: every document is decoded
// by apimachinery's strict deserializer into the API types of k8s.io/api
// (an unknown or misspelt field, a duplicate key or a wrong type is an
// error, as `kubectl apply --validate=strict` would report), and the
// objects are then checked for the invariants below. The ServiceMonitor is
// a CRD without Go types here: it is checked as unstructured data with the
// fields the Prometheus Operator requires.

const namespace = "portcheck"

// k8sObject is one decoded document.
type k8sObject struct {
	file string
	obj  runtime.Object         // typed, for the built-in kinds
	raw  map[string]interface{} // unstructured, for CRDs
	kind string
	name string
}

func (o k8sObject) String() string { return fmt.Sprintf("%s %s/%s", o.file, o.kind, o.name) }

func k8sFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("k8s", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under k8s/ (%v)", err)
	}
	return files
}

// decodeK8s decodes every document of every manifest strictly.
func decodeK8s(t *testing.T) []k8sObject {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	var objs []k8sObject
	for _, f := range k8sFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var probe map[string]interface{}
			if err := sigsyaml.Unmarshal(doc, &probe); err != nil {
				t.Errorf("%s doc %d: %v", f, i, err)
				continue
			}
			if probe == nil {
				continue // only comments
			}
			o := k8sObject{file: f}
			o.kind, _ = probe["kind"].(string)
			if md, ok := probe["metadata"].(map[string]interface{}); ok {
				o.name, _ = md["name"].(string)
			}
			api, _ := probe["apiVersion"].(string)
			if api == "monitoring.coreos.com/v1" {
				o.raw = probe
				objs = append(objs, o)
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s doc %d (%s %s): %v", f, i, api, o.kind, err)
				continue
			}
			o.obj = obj
			objs = append(objs, o)
		}
	}
	return objs
}

// podSpecOf returns the pod template of a workload.
func podSpecOf(o k8sObject) (*corev1.PodTemplateSpec, *int32, bool) {
	switch w := o.obj.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template, w.Spec.Replicas, true
	case *appsv1.StatefulSet:
		return &w.Spec.Template, w.Spec.Replicas, true
	}
	return nil, nil, false
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// isPortcheck: a container that runs our image.
func isPortcheck(c corev1.Container) bool {
	name, _, _ := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":")
	return name == "portcheck"
}

func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	objs := decodeK8s(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.kind]++
		if o.name == "" {
			t.Errorf("%s: metadata.name missing", o)
		}
		if m, ok := o.obj.(metav1.Object); ok && o.kind != "Namespace" && m.GetNamespace() != namespace {
			t.Errorf("%s: namespace %q, want %q", o, m.GetNamespace(), namespace)
		}
	}
	for _, k := range []string{"Namespace", "ConfigMap", "PersistentVolumeClaim", "Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "Secret", "ServiceMonitor"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the manifests", k)
		}
	}
}

// A strict decode must refuse what a lenient one lets through.
func TestKubernetesStrictDecodeRefusesTypos(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {strategy: {tpye: Recreate}}\n", // unknown field
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: 1, replicas: 2}\n",   // duplicate key
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {Replicas: 1}\n",                // wrong case
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: one}\n",              // wrong type
	} {
		if _, _, err := dec.Decode([]byte(doc), nil, nil); err == nil {
			t.Errorf("strict decode accepted:\n%s", doc)
		}
	}
}

func TestKubernetesInvariants(t *testing.T) {
	objs := decodeK8s(t)
	grace := config.Defaults().Worker.DrainGrace.Std()
	pvcs := map[string]*corev1.PersistentVolumeClaim{}
	configMaps := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	var workloads, services, pdbs []k8sObject
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *corev1.PersistentVolumeClaim:
			pvcs[v.Name] = v
		case *corev1.ConfigMap:
			configMaps[v.Name] = v
		case *corev1.Secret:
			secrets[v.Name] = v
		case *corev1.Service:
			services = append(services, o)
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, o)
		}
		if _, _, ok := podSpecOf(o); ok {
			workloads = append(workloads, o)
		}
	}

	vantages := map[string]string{}
	for _, w := range workloads {
		tmpl, _, _ := podSpecOf(w)
		spec := tmpl.Spec
		if d, ok := w.obj.(*appsv1.Deployment); ok {
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(tmpl.Labels)) {
				t.Errorf("%s: selector does not match its own pod template (%v)", w, err)
			}
			// Two Deployments selecting each other's pods fight over them
			// (easy to do when copying the worker for a new vantage).
			for _, other := range workloads {
				if ot, _, _ := podSpecOf(other); other.name != w.name && sel.Matches(labels.Set(ot.Labels)) {
					t.Errorf("%s: its selector also matches the pods of %s", w, other)
				}
			}
			// A pod writing to a ReadWriteOnce volume (the bot's SQLite
			// audit trail) must never run twice at once.
			for _, vol := range spec.Volumes {
				if vol.PersistentVolumeClaim == nil {
					continue
				}
				pvc := pvcs[vol.PersistentVolumeClaim.ClaimName]
				if pvc == nil {
					t.Errorf("%s: volume %s names PVC %s, which no manifest defines", w, vol.Name, vol.PersistentVolumeClaim.ClaimName)
					continue
				}
				for _, m := range pvc.Spec.AccessModes {
					if m == corev1.ReadWriteOnce || m == corev1.ReadWriteOncePod {
						if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
							t.Errorf("%s: mounts %s PVC %s with strategy %q: want Recreate (a rolling update runs two pods on it)", w, m, pvc.Name, d.Spec.Strategy.Type)
						}
						if replicas(d.Spec.Replicas) != 1 {
							t.Errorf("%s: mounts %s PVC %s with %d replicas", w, m, pvc.Name, replicas(d.Spec.Replicas))
						}
					}
				}
			}
		}
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext needs runAsNonRoot: true and seccompProfile RuntimeDefault (namespace is Pod Security restricted)", w)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken: false (nothing here talks to the API server)", w)
		}
		for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
			where := fmt.Sprintf("%s container %s", w, c.Name)
			checkImage(t, where, c)
			sc := c.SecurityContext
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.Capabilities == nil || !containsCap(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: securityContext needs allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities drop ALL and none added", where)
			}
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				t.Errorf("%s: needs a readiness and a liveness probe", where)
			}
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				if p == nil {
					continue
				}
				var port *intstr.IntOrString
				if p.HTTPGet != nil {
					port = &p.HTTPGet.Port
				} else if p.TCPSocket != nil {
					port = &p.TCPSocket.Port
				}
				if port != nil && !containerHasPort(c, *port) {
					t.Errorf("%s: probe port %s is not a container port", where, port.String())
				}
			}
			checkEnvRefs(t, where, c, configMaps, secrets)
			if !isPortcheck(c) {
				continue
			}
			if !hasSysctl(spec, "net.ipv4.ping_group_range") {
				t.Errorf("%s: pod lacks the net.ipv4.ping_group_range sysctl (ping through the unprivileged ICMP socket)", where)
			}
			if tmpl.Spec.TerminationGracePeriodSeconds == nil || time.Duration(*tmpl.Spec.TerminationGracePeriodSeconds)*time.Second <= grace {
				t.Errorf("%s: terminationGracePeriodSeconds must exceed worker.drain_grace (%s)", w, grace)
			}
			if len(c.Args) > 0 && c.Args[0] == "worker" {
				v := flagValue(c.Args, "--vantage")
				if v == "" {
					t.Errorf("%s: a worker Deployment names its vantage with --vantage", where)
				} else if prev, dup := vantages[v]; dup {
					t.Errorf("%s: vantage %q is also %s's: one Deployment per vantage", where, v, prev)
				}
				vantages[v] = w.String()
				if tmpl.Labels["vantage"] != v {
					t.Errorf("%s: pod label vantage=%q, want %q (the PDB and selectors key on it)", where, tmpl.Labels["vantage"], v)
				}
				if l := flagValue(c.Args, "--listen"); l == "" || !containerHasPort(c, intstr.FromString(portOf(l))) {
					t.Errorf("%s: --listen %q must serve a declared containerPort (probes, metrics)", where, l)
				}
			}
		}
	}
	if len(vantages) == 0 {
		t.Error("no worker Deployment")
	}

	// Services select pods that exist, on ports those pods declare.
	for _, s := range services {
		svc := s.obj.(*corev1.Service)
		var selected []k8sObject
		for _, w := range workloads {
			tmpl, _, _ := podSpecOf(w)
			if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(tmpl.Labels)) {
				selected = append(selected, w)
			}
		}
		if len(selected) == 0 {
			t.Errorf("%s: selector %v matches no pod template", s, svc.Spec.Selector)
		}
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			for _, w := range selected {
				tmpl, _, _ := podSpecOf(w)
				found := false
				for _, c := range tmpl.Spec.Containers {
					found = found || containerHasPort(c, target)
				}
				if !found {
					t.Errorf("%s: port %s targets %s, which %s does not declare", s, p.Name, target.String(), w)
				}
			}
		}
	}

	// Disruption budgets select existing pods and leave room for a drain.
	for _, o := range pdbs {
		pdb := o.obj.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("%s: bad or empty selector (%v)", o, err)
			continue
		}
		matched := 0
		for _, w := range workloads {
			tmpl, reps, _ := podSpecOf(w)
			if !sel.Matches(labels.Set(tmpl.Labels)) {
				continue
			}
			matched++
			switch {
			case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int && pdb.Spec.MinAvailable.IntVal >= replicas(reps):
				t.Errorf("%s: minAvailable %d with %d replicas of %s blocks every drain", o, pdb.Spec.MinAvailable.IntVal, replicas(reps), w)
			case pdb.Spec.MaxUnavailable != nil && pdb.Spec.MaxUnavailable.Type == intstr.Int && pdb.Spec.MaxUnavailable.IntVal < 1:
				t.Errorf("%s: maxUnavailable 0 blocks every drain", o)
			}
		}
		if matched == 0 {
			t.Errorf("%s: selector matches no pod template", o)
		}
	}

	checkRedisPassword(t, workloads, secrets)
	checkServiceMonitor(t, objs, services)
}

func checkImage(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	img := c.Image
	if i := strings.Index(img, "@"); i >= 0 {
		img = img[:i] // a digest pins it; a tag is still wanted for people
	}
	last := img[strings.LastIndex(img, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case !ok || tag == "":
		t.Errorf("%s: image %q has no tag (means :latest)", where, c.Image)
	case tag == "latest":
		t.Errorf("%s: image %q: use a version tag, not :latest", where, c.Image)
	case isPortcheck(c) && !regexp.MustCompile(`^v?\d+\.\d+\.\d+`).MatchString(tag):
		t.Errorf("%s: image %q: want a version tag like v1.2.3", where, c.Image)
	}
	if c.ImagePullPolicy == "" {
		t.Errorf("%s: imagePullPolicy is not set (the default depends on the tag)", where)
	}
}

func containsCap(cs []corev1.Capability, want corev1.Capability) bool {
	for _, c := range cs {
		if c == want {
			return true
		}
	}
	return false
}

func hasSysctl(spec corev1.PodSpec, name string) bool {
	if spec.SecurityContext == nil {
		return false
	}
	for _, s := range spec.SecurityContext.Sysctls {
		if s.Name == name {
			return true
		}
	}
	return false
}

func containerHasPort(c corev1.Container, p intstr.IntOrString) bool {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && (cp.Name == p.StrVal || fmt.Sprint(cp.ContainerPort) == p.StrVal)) ||
			(p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return true
		}
	}
	return false
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func portOf(addr string) string {
	return addr[strings.LastIndex(addr, ":")+1:]
}

// checkEnvRefs: every Secret and ConfigMap key a container reads exists in
// the manifests (the Secret in examples/ documents every key, optional ones
// included), and a portcheck container sets only variables the binary reads
// or that another of its values expands with $(NAME).
func checkEnvRefs(t *testing.T, where string, c corev1.Container, cms map[string]*corev1.ConfigMap, secrets map[string]*corev1.Secret) {
	t.Helper()
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			s := secrets[r.Name]
			if s == nil {
				t.Errorf("%s: %s reads Secret %s, which examples/ does not show", where, e.Name, r.Name)
			} else if _, ok := s.StringData[r.Key]; !ok {
				t.Errorf("%s: %s reads key %s of Secret %s, which the example does not list", where, e.Name, r.Key, r.Name)
			}
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			cm := cms[r.Name]
			if cm == nil {
				t.Errorf("%s: %s reads ConfigMap %s, which no manifest defines", where, e.Name, r.Name)
			} else if _, ok := cm.Data[r.Key]; !ok {
				t.Errorf("%s: %s reads key %s of ConfigMap %s, which it lacks", where, e.Name, r.Key, r.Name)
			}
		}
	}
	if !isPortcheck(c) {
		return
	}
	known := binaryEnvCached(t)
	expanded := strings.Join(c.Args, " ")
	for _, e := range c.Env {
		expanded += " " + e.Value
	}
	for _, e := range c.Env {
		if !known[e.Name] && !strings.Contains(expanded, "$("+e.Name+")") {
			t.Errorf("%s: sets %s, which the binary does not read%s", where, e.Name, suggest(e.Name, known))
		}
	}
}

var binaryEnvMemo map[string]bool

func binaryEnvCached(t *testing.T) map[string]bool {
	if binaryEnvMemo == nil {
		binaryEnvMemo = binaryEnv(t)
	}
	return binaryEnvMemo
}

// secretKey is a Secret name and key.
type secretKey struct{ name, key string }

// envSecret returns the Secret key a container variable comes from.
func envSecret(c corev1.Container, name string) (secretKey, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return secretKey{e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key}, true
		}
	}
	return secretKey{}, false
}

var expandRE = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkRedisPassword: the reference Redis requires a password, and every
// portcheck container's REDIS_URL carries the password from the same
// Secret key, pointing at the Redis Service.
func checkRedisPassword(t *testing.T, workloads []k8sObject, secrets map[string]*corev1.Secret) {
	t.Helper()
	var want secretKey
	found := false
	for _, w := range workloads {
		tmpl, _, _ := podSpecOf(w)
		for _, c := range tmpl.Spec.Containers {
			name, _, _ := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":")
			if name != "redis" {
				continue
			}
			pass := flagValue(c.Args, "--requirepass")
			m := expandRE.FindStringSubmatch(pass)
			if m == nil || m[0] != pass {
				t.Errorf("%s: redis args need --requirepass $(VAR) from the Secret, got %q", w, pass)
				continue
			}
			sk, ok := envSecret(c, m[1])
			if !ok {
				t.Errorf("%s: $(%s) does not come from a Secret", w, m[1])
				continue
			}
			want, found = sk, true
			if cli, ok := envSecret(c, "REDISCLI_AUTH"); !ok || cli != sk {
				t.Errorf("%s: the redis-cli probe needs REDISCLI_AUTH from %v", w, sk)
			}
		}
	}
	if !found {
		t.Fatal("no Redis container with --requirepass")
	}
	users := 0
	for _, w := range workloads {
		tmpl, _, _ := podSpecOf(w)
		for _, c := range tmpl.Spec.Containers {
			if !isPortcheck(c) {
				continue
			}
			var url string
			for _, e := range c.Env {
				if e.Name == "REDIS_URL" {
					url = e.Value
				}
			}
			if url == "" {
				t.Errorf("%s container %s: no REDIS_URL value", w, c.Name)
				continue
			}
			users++
			m := regexp.MustCompile(`^rediss?://:\$\(([A-Za-z_][A-Za-z0-9_]*)\)@redis\.` + namespace + `\.svc:6379/\d+$`).FindStringSubmatch(url)
			if m == nil {
				t.Errorf("%s container %s: REDIS_URL %q: want redis://:$(VAR)@redis.%s.svc:6379/N", w, c.Name, url, namespace)
				continue
			}
			if sk, ok := envSecret(c, m[1]); !ok || sk != want {
				t.Errorf("%s container %s: REDIS_URL's password $(%s) comes from %v, Redis requires %v", w, c.Name, m[1], sk, want)
			}
			// Kubernetes expands $(VAR) only from variables defined earlier.
			for _, e := range c.Env {
				if e.Name == "REDIS_URL" {
					t.Errorf("%s container %s: %s must come before REDIS_URL for $(%s) to expand", w, c.Name, m[1], m[1])
					break
				}
				if e.Name == m[1] {
					break
				}
			}
		}
	}
	if users == 0 {
		t.Error("no portcheck container uses Redis")
	}
	if s := secrets[want.name]; s == nil || s.StringData[want.key] == "" {
		t.Errorf("the example Secret lacks %v", want)
	}
}

// checkServiceMonitor checks the CRD as unstructured data: the fields the
// operator needs, a selector that matches our Services, and endpoint ports
// those Services name.
func checkServiceMonitor(t *testing.T, objs []k8sObject, services []k8sObject) {
	t.Helper()
	n := 0
	for _, o := range objs {
		if o.kind != "ServiceMonitor" {
			continue
		}
		n++
		if filepath.Dir(o.file) == "k8s" {
			t.Errorf("%s: keep the ServiceMonitor out of k8s/ itself (its own directory), so clusters without the CRD can apply k8s/", o)
		}
		var sm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string            `json:"name"`
				Namespace string            `json:"namespace"`
				Labels    map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Selector          metav1.LabelSelector `json:"selector"`
				NamespaceSelector struct {
					MatchNames []string `json:"matchNames"`
					Any        bool     `json:"any"`
				} `json:"namespaceSelector"`
				Endpoints []struct {
					Port     string `json:"port"`
					Path     string `json:"path"`
					Interval string `json:"interval"`
					Scheme   string `json:"scheme"`
				} `json:"endpoints"`
			} `json:"spec"`
		}
		b, err := sigsyaml.Marshal(o.raw)
		if err == nil {
			err = sigsyaml.UnmarshalStrict(b, &sm)
		}
		if err != nil {
			t.Errorf("%s: %v", o, err)
			continue
		}
		if sm.Metadata.Namespace != namespace || len(sm.Spec.Endpoints) == 0 {
			t.Errorf("%s: needs namespace %s and at least one endpoint", o, namespace)
		}
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("%s: bad or empty selector (%v)", o, err)
			continue
		}
		var matched []*corev1.Service
		for _, s := range services {
			svc := s.obj.(*corev1.Service)
			if sel.Matches(labels.Set(svc.Labels)) {
				matched = append(matched, svc)
			}
		}
		if len(matched) == 0 {
			t.Errorf("%s: selector matches no Service", o)
		}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Port == "" || ep.Path != "/metrics" {
				t.Errorf("%s: endpoint needs a named port and path /metrics, got %+v", o, ep)
			}
			if ep.Interval != "" {
				if _, err := time.ParseDuration(ep.Interval); err != nil {
					t.Errorf("%s: interval %q: %v", o, ep.Interval, err)
				}
			}
			for _, svc := range matched {
				has := false
				for _, p := range svc.Spec.Ports {
					has = has || p.Name == ep.Port
				}
				if !has {
					t.Errorf("%s: Service %s has no port named %q", o, svc.Name, ep.Port)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no ServiceMonitor")
	}
}

// `kubectl apply -f deploy/k8s/` reads the *.yaml files of that directory
// only (not subdirectories, not the extension-less Kustomization); `kubectl
// apply -k deploy/k8s/` reads the Kustomization. Both must apply the same
// files, and neither the example Secret nor the ServiceMonitor.
func TestKustomizationMatchesTheAppliedDirectory(t *testing.T) {
	b, err := os.ReadFile("k8s/Kustomization")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	if err := sigsyaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("k8s/Kustomization: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("k8s/Kustomization: apiVersion/kind %s/%s", k.APIVersion, k.Kind)
	}
	for _, name := range []string{"kustomization.yaml", "kustomization.yml"} {
		if _, err := os.Stat(filepath.Join("k8s", name)); err == nil {
			t.Errorf("k8s/%s: kubectl apply -f k8s/ would try to apply it as an object; keep the Kustomization file only", name)
		}
	}
	var applied []string
	entries, err := os.ReadDir("k8s")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			applied = append(applied, e.Name())
		}
	}
	res := append([]string(nil), k.Resources...)
	sort.Strings(res)
	sort.Strings(applied)
	if strings.Join(res, ",") != strings.Join(applied, ",") {
		t.Errorf("Kustomization resources %v, but kubectl apply -f k8s/ applies %v", res, applied)
	}
	for _, o := range decodeK8s(t) {
		if filepath.Dir(o.file) != "k8s" {
			continue
		}
		if o.kind == "Secret" {
			t.Errorf("%s: kubectl apply -f k8s/ would apply this placeholder Secret: keep it in k8s/examples/", o)
		}
	}
}

// Every portcheck container's command line goes through the real binary
// (cmdline_test.go), with its ConfigMap mounted where the args expect it:
// so the embedded portcheck.yaml is also loaded by the binary's own strict
// config decoder.
func TestKubernetesCommandLinesParse(t *testing.T) {
	bin := portcheckBinary(t)
	objs := decodeK8s(t)
	cms := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok {
			cms[cm.Name] = cm
		}
	}
	n := 0
	for _, w := range objs {
		tmpl, _, ok := podSpecOf(w)
		if !ok {
			continue
		}
		for _, c := range tmpl.Spec.Containers {
			if !isPortcheck(c) {
				continue
			}
			n++
			cl := commandLine{where: w.String(), args: c.Args, env: map[string]string{}, mounts: map[string]map[string]string{}}
			if len(c.Command) > 0 {
				t.Errorf("%s: command overrides the image's entrypoint; use args", w)
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					cl.env[e.Name] = e.Value
				}
			}
			for _, m := range c.VolumeMounts {
				for _, v := range tmpl.Spec.Volumes {
					if v.Name != m.Name || v.ConfigMap == nil {
						continue
					}
					cm := cms[v.ConfigMap.Name]
					if cm == nil {
						t.Errorf("%s: volume %s names ConfigMap %s, which no manifest defines", w, v.Name, v.ConfigMap.Name)
						continue
					}
					files := map[string]string{}
					if len(v.ConfigMap.Items) == 0 {
						for k, val := range cm.Data {
							files[k] = val
						}
					}
					for _, it := range v.ConfigMap.Items {
						val, ok := cm.Data[it.Key]
						if !ok {
							t.Errorf("%s: volume %s maps key %s, which ConfigMap %s lacks", w, v.Name, it.Key, cm.Name)
						}
						files[it.Path] = val
					}
					cl.mounts[m.MountPath] = files
				}
			}
			if err := checkCommandLine(t, bin, cl); err != nil {
				t.Errorf("%s: %v", w, err)
			}
		}
	}
	if n == 0 {
		t.Error("no portcheck container")
	}
}
