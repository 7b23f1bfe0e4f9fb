package container

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

// re anchors a regex the way observer/config does.
func re(s string) *regexp.Regexp { return regexp.MustCompile("^(?:" + s + ")$") }

func res(kv ...string) map[string]*regexp.Regexp {
	m := map[string]*regexp.Regexp{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = re(kv[i+1])
	}
	return m
}

// Three processes every case is tried on.
var (
	hostProc = hostIdentity(10, 1, "/usr/sbin/nginx", Cgroup{}, false)
	ctrProc  = containerIdentity(20, 2, "/app/server", Cgroup{ContainerID: fixtureDockerID}, &Container{
		ID: fixtureDockerID, Name: "shop-api", Image: "shop/api:1.2",
		Labels: map[string]string{"team": "pay", "tier": "backend"},
		Env:    map[string]string{"LANG": "en_US.UTF-8", "DEBUG": "0", "EMPTY": ""},
	})
	k8sProc = containerIdentity(30, 3, "/app/web", Cgroup{ContainerID: fixturePodCtrID, PodUID: fixturePodUID}, &Container{
		ID: fixturePodCtrID, Name: "k8s_web_web-7d4b9c8f6b-x2kq9_prod_" + fixturePodUID + "_0", Image: "web:3",
		Labels: map[string]string{"io.kubernetes.pod.name": "web-7d4b9c8f6b-x2kq9", "team": "ship"},
		Env:    map[string]string{"LANG": "C", "DEBUG": "1"},
		K8s: &K8sInfo{PodName: "web-7d4b9c8f6b-x2kq9", Namespace: "prod", ContainerName: "web", PodUID: fixturePodUID,
			Workload: "web", Labels: map[string]string{"app": "web", "release": "canary"}},
	})
)

func TestFilter(t *testing.T) {
	type want struct{ host, ctr, k8s bool }
	for _, tc := range []struct {
		name string
		cfg  FilterConfig
		want want
	}{
		{"empty config", FilterConfig{}, want{true, true, true}},
		// cmd: host processes only
		{"include cmd matches", FilterConfig{IncludeCmdRegex: re(".*nginx")}, want{true, true, true}},
		{"include cmd misses", FilterConfig{IncludeCmdRegex: re("redis.*")}, want{false, true, true}},
		{"include cmd is a full match", FilterConfig{IncludeCmdRegex: re("nginx")}, want{false, true, true}},
		{"exclude cmd matches", FilterConfig{ExcludeCmdRegex: re("/usr/sbin/.*")}, want{false, true, true}},
		{"exclude cmd misses", FilterConfig{ExcludeCmdRegex: re("redis")}, want{true, true, true}},
		{"cmd ignores containers' commands", FilterConfig{IncludeCmdRegex: re("/app/.*")}, want{false, true, true}},
		// container name: Docker name in container mode, K8s container name in kubernetes mode
		{"include container name", FilterConfig{IncludeContainerNameRegex: re("shop-.*")}, want{true, true, false}},
		{"include k8s container name", FilterConfig{IncludeContainerNameRegex: re("web")}, want{true, false, true}},
		{"k8s docker name is not the container name", FilterConfig{IncludeContainerNameRegex: re("k8s_.*")}, want{true, false, false}},
		{"exclude container name", FilterConfig{ExcludeContainerNameRegex: re("shop-api|web")}, want{true, false, false}},
		// pod and namespace: kubernetes only
		{"include pod", FilterConfig{IncludePodNameRegex: re("web-.*")}, want{true, true, true}},
		{"include pod misses", FilterConfig{IncludePodNameRegex: re("db-.*")}, want{true, true, false}},
		{"exclude pod", FilterConfig{ExcludePodNameRegex: re("web-.*")}, want{true, true, false}},
		{"include namespace", FilterConfig{IncludeNamespaceNameRegex: re("prod")}, want{true, true, true}},
		{"include namespace misses", FilterConfig{IncludeNamespaceNameRegex: re("dev")}, want{true, true, false}},
		{"exclude namespace", FilterConfig{ExcludeNamespaceNameRegex: re("prod|kube-system")}, want{true, true, false}},
		// container labels: containers and pods' containers
		{"include label value", FilterConfig{IncludeContainerLabels: res("team", "pay")}, want{true, true, false}},
		{"include label value is matched, not just the key", FilterConfig{IncludeContainerLabels: res("team", "nobody")}, want{true, false, false}},
		{"include labels: any entry", FilterConfig{IncludeContainerLabels: res("team", "ship", "tier", "backend")}, want{true, true, true}},
		{"include label absent key", FilterConfig{IncludeContainerLabels: res("owner", ".*")}, want{true, false, false}},
		{"include label key presence", FilterConfig{IncludeContainerLabels: res("team", "(?s:.*)")}, want{true, true, true}},
		{"exclude label", FilterConfig{ExcludeContainerLabels: res("tier", "back.*")}, want{true, false, true}},
		{"exclude labels: any entry", FilterConfig{ExcludeContainerLabels: res("tier", "front", "team", "ship")}, want{true, true, false}},
		{"exclude label value misses", FilterConfig{ExcludeContainerLabels: res("team", "x")}, want{true, true, true}},
		// K8s labels: pod labels, kubernetes only (container labels are not pod labels)
		{"include k8s label", FilterConfig{IncludeK8sLabels: res("app", "web")}, want{true, true, true}},
		{"include k8s label misses", FilterConfig{IncludeK8sLabels: res("app", "db")}, want{true, true, false}},
		{"k8s labels are not container labels", FilterConfig{IncludeK8sLabels: res("team", ".*")}, want{true, true, false}},
		{"include k8s labels: any entry", FilterConfig{IncludeK8sLabels: res("app", "db", "release", "canary")}, want{true, true, true}},
		{"exclude k8s label", FilterConfig{ExcludeK8sLabels: res("release", "canary")}, want{true, true, false}},
		{"exclude k8s label misses", FilterConfig{ExcludeK8sLabels: res("release", "stable")}, want{true, true, true}},
		// envs
		{"include env", FilterConfig{IncludeEnvs: res("LANG", "en_.*")}, want{true, true, false}},
		{"include env empty value", FilterConfig{IncludeEnvs: res("EMPTY", "")}, want{true, true, false}},
		{"include envs: any entry", FilterConfig{IncludeEnvs: res("LANG", "en_.*", "DEBUG", "1")}, want{true, true, true}},
		{"exclude env", FilterConfig{ExcludeEnvs: res("DEBUG", "1")}, want{true, true, false}},
		{"exclude env value misses", FilterConfig{ExcludeEnvs: res("DEBUG", "2")}, want{true, true, true}},
		// combinations: every include must match, any exclude excludes
		{"includes are ANDed", FilterConfig{IncludeContainerLabels: res("team", ".*"), IncludeEnvs: res("LANG", "en_.*")}, want{true, true, false}},
		{"include and exclude", FilterConfig{IncludeNamespaceNameRegex: re("prod"), ExcludeEnvs: res("DEBUG", "1")}, want{true, true, false}},
		{"exclude wins over include", FilterConfig{IncludeContainerNameRegex: re("shop-api"), ExcludeContainerNameRegex: re("shop-.*")}, want{true, false, false}},
		{"mixed modes", FilterConfig{IncludeCmdRegex: re("/usr/sbin/nginx"), IncludePodNameRegex: re("web-.*"), ExcludeContainerLabels: res("team", "pay")}, want{true, false, true}},
	} {
		f := NewFilter(tc.cfg)
		got := want{f.Allows(hostProc), f.Allows(ctrProc), f.Allows(k8sProc)}
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestFilterEmptyAndPending(t *testing.T) {
	assert.True(t, NewFilter(FilterConfig{}).Empty())
	f := NewFilter(FilterConfig{IncludeCmdRegex: re("nothing")})
	assert.False(t, f.Empty())
	assert.False(t, f.Allows(hostProc))
	pending := hostIdentity(11, 1, "/usr/sbin/nginx", Cgroup{ContainerID: fixtureDockerID}, true)
	assert.True(t, f.Allows(pending), "no decision on a process whose container is not known yet")
	assert.True(t, f.Allows(nil))
}

func TestWorkloadName(t *testing.T) {
	for pod, want := range map[string]string{
		"web-7d4b9c8f6b-x2kq9":   "web",           // Deployment, 10-char hash
		"api-gw-65f8d7c9b-abcde": "api-gw",        // Deployment, 9-char hash
		"node-exporter-k2x9z":    "node-exporter", // DaemonSet
		"mysql-0":                "mysql",         // StatefulSet
		"kafka-broker-12":        "kafka-broker",
		"standalone":             "standalone",
		"job-123456":             "job", // digits: StatefulSet rule
		"Web-7D4B9C8F6B-X2KQ9":   "Web-7D4B9C8F6B-X2KQ9",
		"a-b":                    "a-b",
	} {
		assert.Equal(t, want, WorkloadName(pod), pod)
	}
}
