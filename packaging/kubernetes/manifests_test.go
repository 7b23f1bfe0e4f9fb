// Package kubernetes checks the manifests of this directory: each document decodes strictly (an
// unknown or misspelt field fails) into the Kubernetes API type its kind names, and the DaemonSet
// holds what netobserver needs and no more. A module of its own, so that k8s.io/api never becomes
// a requirement of the netobserver module (and of iLogtail builds taking the plugin).
package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// decode reads every manifest of the directory, strictly, into its type, keyed "Kind/name".
func decode(t *testing.T) map[string]any {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	objs := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var meta struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s #%d: %v", f, i, err)
			}
			var obj any
			switch meta.Kind {
			case "Namespace":
				obj = &corev1.Namespace{}
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "ConfigMap":
				obj = &corev1.ConfigMap{}
			case "Service":
				obj = &corev1.Service{}
			case "DaemonSet":
				obj = &appsv1.DaemonSet{}
			default:
				t.Fatalf("%s #%d: kind %q has no test", f, i, meta.Kind)
			}
			// As the API server decodes: case-sensitive field names, unknown and duplicate
			// fields errors (encoding/json alone would take "hostPId" for hostPID).
			js, err := yaml.YAMLToJSONStrict(doc)
			if err != nil {
				t.Fatalf("%s #%d: %v", f, i, err)
			}
			strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowUnknownFields)
			if err != nil || len(strict) > 0 {
				t.Fatalf("%s #%d: %v %v", f, i, err, strict)
			}
			name := obj.(interface{ GetName() string }).GetName()
			objs[meta.Kind+"/"+name] = obj
		}
	}
	return objs
}

func TestManifests(t *testing.T) {
	objs := decode(t)
	var names []string
	for k := range objs {
		names = append(names, k)
	}
	sort.Strings(names)
	want := []string{"ConfigMap/netobserver", "DaemonSet/netobserver", "Namespace/netobserver", "Service/netobserver", "ServiceAccount/netobserver"}
	if !slices.Equal(names, want) {
		t.Fatalf("manifests %v, want %v", names, want)
	}
	ds := objs["DaemonSet/netobserver"].(*appsv1.DaemonSet)
	pod := ds.Spec.Template.Spec
	if ds.Namespace != "netobserver" || !pod.HostPID || pod.HostNetwork || pod.ServiceAccountName != "netobserver" ||
		pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("pod: namespace %q, hostPID %v, hostNetwork %v, account %q, token %v: want netobserver, true, false, netobserver, false",
			ds.Namespace, pod.HostPID, pod.HostNetwork, pod.ServiceAccountName, pod.AutomountServiceAccountToken)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]

	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no security context")
	}
	if sc.Privileged == nil || *sc.Privileged {
		t.Error("privileged must be set, false")
	}
	var add []string
	for _, c := range sc.Capabilities.Add {
		add = append(add, string(c))
	}
	// The capabilities the README's Kubernetes section explains, and packaging/image's test runs
	// the image with (but SYS_RESOURCE, which that machine cannot grant).
	if want := []string{"SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "NET_ADMIN", "SYS_RESOURCE"}; !slices.Equal(add, want) {
		t.Errorf("capabilities added %v, want %v", add, want)
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities dropped %v, want ALL", sc.Capabilities.Drop)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("seccomp: want RuntimeDefault")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the root filesystem must be read-only")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Error("runs as root (uid 0): the capabilities are root's")
	}

	// Mounts: mount path → host path (or the volume's kind), read-only.
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Errorf("mount %s: no volume %q", m.MountPath, m.Name)
			continue
		}
		src := ""
		switch {
		case v.HostPath != nil:
			src = "host:" + v.HostPath.Path
		case v.ConfigMap != nil:
			src = "configmap:" + v.ConfigMap.Name
		case v.EmptyDir != nil:
			src = "emptydir"
		}
		if m.ReadOnly {
			src += " ro"
		}
		mounts[m.MountPath] = src
	}
	wantMounts := map[string]string{
		"/etc/netobserver":     "configmap:netobserver ro",
		"/sys/kernel/tracing":  "host:/sys/kernel/tracing ro",
		"/sys/kernel/debug":    "host:/sys/kernel/debug ro",
		"/host/run/containerd": "host:/run/containerd ro",
		"/tmp":                 "emptydir",
	}
	if !mapsEqual(mounts, wantMounts) {
		t.Errorf("mounts %v, want %v", mounts, wantMounts)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["CONTAINERD_ADDRESS"] != "/host/run/containerd/containerd.sock" || env["NETOBSERVER_RUNTIME"] != "containerd" {
		t.Errorf("runtime env %v: the socket below the containerd mount", env)
	}

	// Probes on the metrics port, which the pipeline's Prometheus flusher listens on.
	var port int32
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			port = p.ContainerPort
		}
	}
	if port != 9464 {
		t.Errorf("metrics port %d, want 9464", port)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe %+v: want GET %s on port metrics", name, p, want)
		}
	}
	cm := objs["ConfigMap/netobserver"].(*corev1.ConfigMap)
	if !strings.Contains(cm.Data["pipeline.yaml"], "Type: flusher_prometheus_exporter\n    Listen: \":9464\"") {
		t.Errorf("the pipeline's Prometheus flusher must listen on :9464 (the pod's interfaces):\n%s", cm.Data["pipeline.yaml"])
	}
	if !slices.Equal(c.Args, []string{"--config", "/etc/netobserver/pipeline.yaml", "--nice", "0"}) {
		t.Errorf("args %v", c.Args)
	}

	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().MilliValue() != 100 || req.Memory().Value() != 128<<20 || lim.Memory().Value() != 512<<20 || !lim.Cpu().IsZero() {
		t.Errorf("resources %v / %v: want requests 100m, 128Mi; limits 512Mi and no CPU limit", req, lim)
	}

	svc := objs["Service/netobserver"].(*corev1.Service)
	if svc.Annotations["prometheus.io/scrape"] != "true" || svc.Annotations["prometheus.io/port"] != "9464" ||
		len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" ||
		svc.Spec.Selector["app.kubernetes.io/name"] != ds.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Errorf("service %+v does not select the pods' metrics port with the scrape annotations", svc)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
