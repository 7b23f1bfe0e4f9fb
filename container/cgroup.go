package container

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Cgroup is what a process's cgroup path says about its container.
type Cgroup struct {
	// ContainerID is the 64-hex id of the container the process runs in; empty for a host
	// process.
	ContainerID string
	// PodUID is the Kubernetes pod uid (with dashes) when the path carries one (kubepods layouts);
	// empty otherwise.
	PodUID string
}

// Cgroup reads /proc/<pid>/cgroup and returns the container the process runs in. A process that
// is in no container gets a zero Cgroup and no error.
func (p Procfs) Cgroup(pid uint32) (Cgroup, error) {
	data, err := os.ReadFile(filepath.Join(p.root(), strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return Cgroup{}, err
	}
	return ParseCgroup(data), nil
}

// ParseCgroup reads the text of /proc/<pid>/cgroup, cgroup v1 ("<id>:<controllers>:<path>", one
// line per hierarchy) or v2 ("0::<path>"), and finds the container id in the path. It knows:
//
//	/docker/<id>                                                       docker, cgroupfs driver (v1)
//	/system.slice/docker-<id>.scope                                     docker, systemd driver
//	/kubepods/<qos>/pod<uid>/<id>, /kubepods/pod<uid>/<id>              kubelet, cgroupfs driver
//	/kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/<runtime>-<id>.scope
//	                                                                   kubelet, systemd driver
//	<runtime>-<id>.scope for runtime docker, cri-containerd, crio, libpod (podman), containerd
//
// The deepest path segment that names a container wins, so a container nested in a pod slice
// yields the container, not the pod. CRI-O's monitor (crio-conmon-<id>.scope) runs outside the
// container and is not taken for it. Lines are tried in order; the first that names a container
// decides (on hybrid v1/v2 hosts every hierarchy names the same container).
func ParseCgroup(data []byte) Cgroup {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var pod string
	for sc.Scan() {
		line := sc.Text()
		// The path is everything after the second colon: v1 controller lists hold no colon, but a
		// path may.
		_, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		_, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		cg := parsePath(path)
		if cg.ContainerID != "" {
			return cg
		}
		if pod == "" {
			pod = cg.PodUID
		}
	}
	// A process in a pod slice but in no container (rare: the pod's own slice) still belongs to
	// the pod.
	return Cgroup{PodUID: pod}
}

func parsePath(path string) Cgroup {
	var cg Cgroup
	segs := strings.Split(path, "/")
	for i := len(segs) - 1; i >= 0; i-- {
		seg := segs[i]
		if cg.ContainerID == "" && cg.PodUID == "" {
			if id := containerSegment(seg); id != "" {
				cg.ContainerID = id
				continue
			}
		}
		if cg.PodUID == "" {
			if uid := podSegment(seg); uid != "" {
				cg.PodUID = uid
			}
		}
	}
	return cg
}

// containerSegment returns the container id a cgroup path segment names: "<64 hex>" or
// "<runtime>-<64 hex>.scope".
func containerSegment(seg string) string {
	if isContainerID(seg) {
		return seg
	}
	name, ok := strings.CutSuffix(seg, ".scope")
	if !ok {
		return ""
	}
	dash := strings.LastIndexByte(name, '-')
	if dash < 0 {
		return ""
	}
	runtime, id := name[:dash], name[dash+1:]
	if !isContainerID(id) || strings.HasSuffix(runtime, "conmon") {
		return ""
	}
	return id
}

// podSegment returns the pod uid of "pod<uid>" (cgroupfs, dashes) or "kubepods[-<qos>]-pod<uid>.slice"
// (systemd, where the uid's dashes became underscores because '-' separates slice levels).
func podSegment(seg string) string {
	if name, ok := strings.CutSuffix(seg, ".slice"); ok {
		i := strings.LastIndex(name, "-pod")
		if i < 0 || !strings.HasPrefix(name, "kubepods") {
			return ""
		}
		uid := strings.ReplaceAll(name[i+len("-pod"):], "_", "-")
		if !isUID(uid) {
			return ""
		}
		return uid
	}
	if uid, ok := strings.CutPrefix(seg, "pod"); ok && isUID(uid) {
		return uid
	}
	return ""
}

func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isUID accepts a Kubernetes uid: 36 characters, hex digits and dashes (RFC 4122 text form).
// Static pods carry a 32-hex hash instead, also accepted.
func isUID(s string) bool {
	if len(s) != 36 && len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && c != '-' {
			return false
		}
	}
	return true
}
