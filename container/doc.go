// Package container says who a process is and whether the user wants to see it: its command and
// start time (Procfs, ProcTable), its container and pod (cgroups, and the Docker Engine and
// containerd APIs: Runtime), the Identity its records show (Identities) and iLogtail's process,
// container and Kubernetes filters (Filter). Package container/netlink finds the sockets behind
// connections.
package container
