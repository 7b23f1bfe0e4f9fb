package container

import (
	"errors"
	"fmt"
	"os"
)

// Runtimes is container metadata from several runtimes at once: a container is named by the first
// that knows it. A node may run Docker and containerd side by side (Docker's own containers live
// in containerd's "moby" namespace, never in "k8s.io", so no container is known twice).
type Runtimes []*Runtime

var _ Metadata = Runtimes(nil)

// Runtime choices of OpenRuntimes.
const (
	RuntimeAuto       = "auto"
	RuntimeDocker     = "docker"
	RuntimeContainerd = "containerd"
	RuntimeNone       = "none"
)

// OpenRuntimes starts the metadata sources of choice: "docker", "containerd", "none" (every
// process in host mode), or "auto" — both Docker (cfg.Address is then ignored: $DOCKER_HOST or
// /var/run/docker.sock) and containerd ($CONTAINERD_ADDRESS or /run/containerd/containerd.sock),
// so that whichever daemon answers, now or later, names its containers, and an absent one costs
// one log line and a retry with backoff. "" is $NETOBSERVER_RUNTIME, else auto.
func OpenRuntimes(choice string, cfg RuntimeConfig) (Runtimes, error) {
	if choice == "" {
		choice = os.Getenv("NETOBSERVER_RUNTIME")
	}
	var kinds []func(RuntimeConfig) (*Runtime, error)
	switch choice {
	case "", RuntimeAuto:
		cfg.Address = ""
		kinds = append(kinds, NewDocker, NewContainerd)
	case RuntimeDocker:
		kinds = append(kinds, NewDocker)
	case RuntimeContainerd:
		kinds = append(kinds, NewContainerd)
	case RuntimeNone:
		return nil, nil
	default:
		return nil, fmt.Errorf("container runtime %q: not auto, docker, containerd or none", choice)
	}
	var rs Runtimes
	for _, open := range kinds {
		r, err := open(cfg)
		if err != nil {
			rs.Close()
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// Container asks each runtime in turn. An answer that may change (rate limited, a failed call)
// wins over "not found", which wins over "no daemon".
func (rs Runtimes) Container(id string) (*Container, error) {
	var notFound, transient error
	for _, r := range rs {
		c, err := r.Container(id)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, ErrNotFound):
			notFound = err
		case errors.Is(err, ErrNoDaemon):
		default:
			transient = err
		}
	}
	switch {
	case transient != nil:
		return nil, transient
	case notFound != nil:
		return nil, notFound
	}
	return nil, ErrNoDaemon
}

// Generation moves when any runtime's does (each only grows).
func (rs Runtimes) Generation() uint64 {
	var g uint64
	for _, r := range rs {
		g += r.Generation()
	}
	return g
}

// Close stops every runtime.
func (rs Runtimes) Close() error {
	for _, r := range rs {
		r.Close()
	}
	return nil
}
