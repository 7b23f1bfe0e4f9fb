package fakedocker

import (
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Container is one container the engine knows.
type Container struct {
	ID, Name, Image string
	Labels          map[string]string
	Env             []string
}

// Engine is an HTTP server on a unix socket speaking the Docker Engine API.
type Engine struct {
	t    testing.TB
	path string
	srv  *http.Server

	mu         sync.Mutex
	containers map[string]Container
	lists      int
	inspects   map[string]int
	paths      []string // every request's path, in order
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

// Start serves the Engine API on a unix socket at path, knowing cs, until the test ends.
func Start(t testing.TB, path string, cs ...Container) *Engine {
	t.Helper()
	e := &Engine{t: t, path: path, containers: map[string]Container{}, inspects: map[string]int{}}
	for _, c := range cs {
		e.containers[c.ID] = c
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("fake Docker daemon: %v", err)
	}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve)}
	go func() { _ = e.srv.Serve(ln) }()
	t.Cleanup(e.Stop)
	return e
}

// Stop closes the server: the daemon is gone.
func (e *Engine) Stop() { _ = e.srv.Close() }

// Set adds or replaces a container.
func (e *Engine) Set(c Container) {
	e.mu.Lock()
	e.containers[c.ID] = c
	e.mu.Unlock()
}

// Remove forgets a container.
func (e *Engine) Remove(id string) {
	e.mu.Lock()
	delete(e.containers, id)
	e.mu.Unlock()
}

// InspectsOf is the number of inspects of container id.
func (e *Engine) InspectsOf(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inspects[id]
}

// Paths is every request's URL path, in order, API version prefix included.
func (e *Engine) Paths() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.paths...)
}

// Counts is the number of container lists and inspects served.
func (e *Engine) Counts() (lists, inspects int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.inspects {
		inspects += n
	}
	return e.lists, inspects
}

func (e *Engine) serve(w http.ResponseWriter, r *http.Request) {
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	w.Header().Set("Api-Version", "1.47")
	w.Header().Set("Docker-Experimental", "false")
	w.Header().Set("Ostype", "linux")
	w.Header().Set("Server", "Docker/27.5.1 (linux)")
	e.mu.Lock()
	defer e.mu.Unlock()
	e.paths = append(e.paths, r.URL.Path)
	switch {
	case path == "/_ping":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	case path == "/version":
		writeJSON(w, 200, map[string]any{
			"Platform": map[string]any{"Name": "Docker Engine - Community"}, "Version": "27.5.1",
			"ApiVersion": "1.47", "MinAPIVersion": "1.24", "GitCommit": "4c9b3b0", "GoVersion": "go1.22.11",
			"Os": "linux", "Arch": "amd64", "KernelVersion": "6.18.0", "BuildTime": "2025-01-22T13:41:17.000000000+00:00",
		})
	case path == "/containers/json":
		e.lists++
		list := []map[string]any{}
		for _, c := range e.containers {
			list = append(list, map[string]any{
				"Id": c.ID, "Names": []string{"/" + c.Name}, "Image": c.Image,
				"ImageID": "sha256:" + strings.Repeat("ab", 32), "Command": "/app/server", "Created": 1763700000,
				"Ports": []any{}, "Labels": c.Labels, "State": "running", "Status": "Up 2 hours",
				"HostConfig":      map[string]any{"NetworkMode": "bridge"},
				"NetworkSettings": map[string]any{"Networks": map[string]any{"bridge": map[string]any{"IPAddress": "172.17.0.2", "Gateway": "172.17.0.1", "MacAddress": "02:42:ac:11:00:02"}}},
				"Mounts":          []any{},
			})
		}
		writeJSON(w, 200, list)
	case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/json"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/containers/"), "/json")
		e.inspects[id]++
		c, ok := e.containers[id]
		if !ok {
			writeJSON(w, 404, map[string]any{"message": "No such container: " + id})
			return
		}
		writeJSON(w, 200, map[string]any{
			"Id": c.ID, "Created": "2025-11-21T23:40:00.123456789Z", "Path": "/app/server", "Args": []string{"--port", "8080"},
			"State": map[string]any{"Status": "running", "Running": true, "Paused": false, "Restarting": false, "OOMKilled": false,
				"Dead": false, "Pid": 4242, "ExitCode": 0, "Error": "", "StartedAt": "2025-11-21T23:40:01.0Z", "FinishedAt": "0001-01-01T00:00:00Z"},
			"Image": "sha256:" + strings.Repeat("ab", 32), "ResolvConfPath": "/var/lib/docker/containers/" + c.ID + "/resolv.conf",
			"Name": "/" + c.Name, "RestartCount": 0, "Driver": "overlay2", "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
			"AppArmorProfile": "docker-default", "HostConfig": map[string]any{"NetworkMode": "bridge", "RestartPolicy": map[string]any{"Name": "no"}},
			"Mounts": []any{},
			"Config": map[string]any{"Hostname": c.ID[:12], "Domainname": "", "User": "", "Tty": false, "Env": c.Env,
				"Cmd": []string{"--port", "8080"}, "Image": c.Image, "WorkingDir": "/app", "Entrypoint": []string{"/app/server"},
				"Labels": c.Labels},
			"NetworkSettings": map[string]any{"Bridge": "", "SandboxID": strings.Repeat("cd", 32), "Networks": map[string]any{}},
		})
	default:
		writeJSON(w, 404, map[string]any{"message": "page not found"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
