// Package container says who a process is and whether the user wants to see it: its command and
// start time (Procfs, ProcTable), its container and pod (cgroups, the Docker Engine API), the
// Identity its records show (Resolver) and iLogtail's process, container and Kubernetes filters
// (Filter). Package container/netlink finds the sockets behind connections.
package container
