package container

import (
	"strings"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	fixtureDockerID = "3f9c1b7e2a4d5c6b8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
	fixturePodCtrID = "9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877665544"
	fixturePodUID   = "6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f"
	fixturePodmanID = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

// TestCgroupLayouts reads testdata/proc/<pid>/cgroup, one pid per layout (see the comments in
// the table), through Procfs with a fixture root.
func TestCgroupLayouts(t *testing.T) {
	fs := Procfs{Root: "testdata/proc"}
	for _, tc := range []struct {
		pid    uint32
		layout string
		want   Cgroup
	}{
		{101, "host, cgroup v2", Cgroup{}},
		{102, "host, hybrid v1+v2", Cgroup{}},
		{201, "docker cgroupfs v1 /docker/<id>", Cgroup{ContainerID: fixtureDockerID}},
		{202, "docker systemd v2 docker-<id>.scope", Cgroup{ContainerID: fixtureDockerID}},
		{203, "docker systemd v1", Cgroup{ContainerID: fixtureDockerID}},
		{204, "docker cgroupfs v2", Cgroup{ContainerID: fixtureDockerID}},
		{301, "containerd outside Kubernetes", Cgroup{ContainerID: fixtureDockerID}},
		{302, "kubepods systemd v2 cri-containerd", Cgroup{ContainerID: fixturePodCtrID, PodUID: fixturePodUID}},
		{303, "kubepods systemd v1 docker", Cgroup{ContainerID: fixturePodCtrID, PodUID: fixturePodUID}},
		{304, "kubepods systemd v2 guaranteed crio", Cgroup{ContainerID: fixturePodCtrID, PodUID: fixturePodUID}},
		{305, "kubepods cgroupfs v1", Cgroup{ContainerID: fixturePodCtrID, PodUID: fixturePodUID}},
		{306, "kubepods cgroupfs v2 guaranteed", Cgroup{ContainerID: fixturePodCtrID, PodUID: fixturePodUID}},
		{307, "crio-conmon is the monitor, not the container", Cgroup{PodUID: fixturePodUID}},
		{308, "crio with a sub-cgroup inside the container", Cgroup{ContainerID: fixturePodCtrID, PodUID: fixturePodUID}},
		{309, "podman libpod-<id>.scope", Cgroup{ContainerID: fixturePodmanID}},
		{401, "cgroup namespace root", Cgroup{}},
	} {
		got, err := fs.Cgroup(tc.pid)
		require.NoError(t, err, tc.layout)
		assert.Equal(t, tc.want, got, "pid %d: %s", tc.pid, tc.layout)
	}
	_, err := fs.Cgroup(999)
	assert.Error(t, err, "a process that is gone")
}

func TestParseCgroupRejects(t *testing.T) {
	for _, text := range []string{
		"",
		"garbage",
		"0::/system.slice/docker-3f9c.scope\n", // short id
		"0::/system.slice/docker-" + fixtureDockerID[:63] + "X.scope\n", // not hex
		"0::/system.slice/" + "ABCDEF" + fixtureDockerID[6:] + "\n",     // upper case is not an id
		"0::/system.slice/docker.service\n",
		"0::/kubepods.slice/kubepods-besteffort.slice\n",
	} {
		assert.Equal(t, Cgroup{}, ParseCgroup([]byte(text)), "%q", text)
	}
}

// An observer in a pod (the DaemonSet) has a cgroup namespace of its own on cgroup v2 hosts:
// other processes' paths are relative to it, and begin with "/..".
func TestParseCgroupFromAnotherCgroupNamespace(t *testing.T) {
	text := "0::/../../kubepods-besteffort-pod" + strings.ReplaceAll(fixturePodUID, "-", "_") + ".slice/cri-containerd-" + fixturePodCtrID + ".scope\n"
	assert.Equal(t, Cgroup{ContainerID: fixturePodCtrID, PodUID: fixturePodUID}, ParseCgroup([]byte(text)))
	text = "0::/../../../system.slice/docker-" + fixtureDockerID + ".scope\n"
	assert.Equal(t, Cgroup{ContainerID: fixtureDockerID}, ParseCgroup([]byte(text)))
}
