package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
)

// engine is the part of the Docker Engine API that the Docker Runtime uses — ping, version, list and inspect
// containers — over plain HTTP on the daemon's socket, with the standard library only. Not the
// Docker SDK (github.com/docker/docker/client): that module and the OpenTelemetry modules it
// requires would become requirements of every program importing this package, and an iLogtail
// build importing the netobserver plugin would have its own, older Docker client raised to the
// SDK's version, which iLogtail's code does not compile against (export/ilogtail/README.md).
//
// The fields read (Id, Names, Labels, Name, Config.Image, Config.Labels, Config.Env) exist in
// every API version since 1.24, so requests use the version the daemon announces on /_ping, as the
// SDK's negotiation does, and can never fall below the daemon's minimum.
type engine struct {
	host   string // as configured, for logs: unix:///var/run/docker.sock
	base   string // URL prefix of requests, without the API version
	client *http.Client

	mu      sync.Mutex
	version string // API version in use, "" until a ping told it (or DOCKER_API_VERSION)
}

// defaultDockerHost is where the daemon listens unless DOCKER_HOST says otherwise.
const defaultDockerHost = "unix:///var/run/docker.sock"

// maxEngineResponse bounds a response body: a list of every container of a busy node with all
// their labels stays far below it.
const maxEngineResponse = 64 << 20

// errEngineUnreachable wraps a request whose connection could not be made: no daemon listens.
var errEngineUnreachable = errors.New("cannot connect")

// errEngineNotFound wraps the daemon's answer that it does not know a container (Docker's 404,
// containerd's NotFound).
var errEngineNotFound = errors.New("not found")

// newEngine makes a client of the daemon at host: unix://path or tcp://host:port (plain HTTP);
// empty is $DOCKER_HOST or the default socket. $DOCKER_API_VERSION pins the API version as it does
// for the docker CLI. TLS ($DOCKER_TLS_VERIFY) is not supported: the observer runs on the node and
// uses the daemon's socket.
func newEngine(host string) (*engine, error) {
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host == "" {
		host = defaultDockerHost
	}
	e := &engine{host: host, version: os.Getenv("DOCKER_API_VERSION")}
	transport := &http.Transport{MaxIdleConns: 2, DisableCompression: true}
	proto, addr, ok := strings.Cut(host, "://")
	switch {
	case !ok || addr == "":
		return nil, fmt.Errorf("docker: host %q is not unix://path or tcp://host:port", host)
	case proto == "unix":
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
		e.base = "http://docker" // the host part is not used for a unix socket
	case proto == "tcp":
		if os.Getenv("DOCKER_TLS_VERIFY") != "" {
			return nil, fmt.Errorf("docker: host %q: TLS (DOCKER_TLS_VERIFY) is not supported, use the daemon's unix socket", host)
		}
		e.base = "http://" + addr
	default:
		return nil, fmt.Errorf("docker: host %q: protocol %q is not supported (unix or tcp)", host, proto)
	}
	e.client = &http.Client{Transport: transport}
	return e, nil
}

// engineContainer is what Docker reads of a container list entry.
type engineContainer struct {
	ID     string            `json:"Id"`
	Names  []string          `json:"Names"`
	Labels map[string]string `json:"Labels"`
}

// engineInspect is what Docker reads of a container inspect.
type engineInspect struct {
	ID     string `json:"Id"`
	Name   string `json:"Name"`
	Config *struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
		Env    []string          `json:"Env"`
	} `json:"Config"`
}

// NewDocker makes a metadata source of the Docker daemon at cfg.Address and starts its refresh
// loop; Close stops it. It does not fail when no daemon is reachable (see Runtime), only on a
// malformed address or DOCKER_* variable.
func NewDocker(cfg RuntimeConfig) (*Runtime, error) {
	e, err := newEngine(cfg.Address)
	if err != nil {
		return nil, err
	}
	return newRuntime(cfg, e), nil
}

// labelDockerType is "podsandbox" on the pause container dockershim made for a pod.
const labelDockerType = "io.kubernetes.docker.type"

func (e *engine) kind() string    { return "docker" }
func (e *engine) address() string { return e.host }

func (e *engine) hello(ctx context.Context) (string, error) {
	if err := e.ping(ctx); err != nil {
		return "", err
	}
	version := "?"
	if v, err := e.serverVersion(ctx); err == nil {
		version = v
	}
	return "Engine " + version + ", API " + e.apiVersion(), nil
}

// list returns the running containers (processes live only in those; a pod's sandbox runs too).
func (e *engine) list(ctx context.Context) ([]listed, error) {
	var list []engineContainer
	if err := e.getJSON(ctx, "/containers/json", &list); err != nil {
		return nil, err
	}
	out := make([]listed, len(list))
	for i, c := range list {
		out[i] = listed{ID: c.ID, Labels: c.Labels, Sandbox: c.Labels[labelDockerType] == "podsandbox"}
		if len(c.Names) > 0 {
			out[i].Name = strings.TrimPrefix(c.Names[0], "/")
		}
	}
	return out, nil
}

// inspect returns one container; errEngineNotFound when the daemon does not know it.
func (e *engine) inspect(ctx context.Context, id string) (*Container, error) {
	var r engineInspect
	if err := e.getJSON(ctx, "/containers/"+url.PathEscape(id)+"/json", &r); err != nil {
		return nil, err
	}
	c := &Container{ID: r.ID, Name: strings.TrimPrefix(r.Name, "/"), Labels: map[string]string{}, Env: map[string]string{}}
	if r.Config != nil {
		c.Image = r.Config.Image
		for k, v := range r.Config.Labels {
			c.Labels[k] = v
		}
		for _, kv := range r.Config.Env {
			k, v, _ := strings.Cut(kv, "=")
			c.Env[k] = v
		}
	}
	return c, nil
}

// ping checks the daemon answers and takes its API version.
func (e *engine) ping(ctx context.Context) error {
	resp, err := e.do(ctx, "/_ping", false)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return engineError(resp)
	}
	if v := resp.Header.Get("Api-Version"); v != "" {
		e.mu.Lock()
		if os.Getenv("DOCKER_API_VERSION") == "" {
			e.version = v
		}
		e.mu.Unlock()
	}
	return nil
}

// serverVersion is the engine's release, e.g. "27.5.1".
func (e *engine) serverVersion(ctx context.Context) (string, error) {
	var v struct{ Version string }
	err := e.getJSON(ctx, "/version", &v)
	return v.Version, err
}

// apiVersion is the API version requests use ("" before the first ping: the daemon's current).
func (e *engine) apiVersion() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.version
}

func (e *engine) close() { e.client.CloseIdleConnections() }

func (e *engine) getJSON(ctx context.Context, path string, v any) error {
	resp, err := e.do(ctx, path, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", errEngineNotFound, engineError(resp))
	default:
		return engineError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxEngineResponse)).Decode(v); err != nil {
		return fmt.Errorf("docker: GET %s: %w", path, err)
	}
	return nil
}

func (e *engine) do(ctx context.Context, path string, versioned bool) (*http.Response, error) {
	if v := e.apiVersion(); versioned && v != "" {
		path = "/v" + v + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return nil, fmt.Errorf("%w to %s: %w", errEngineUnreachable, e.host, err)
	case err != nil: // a timeout or a broken answer: the daemon may still be there
		return nil, fmt.Errorf("docker: %s: %w", e.host, err)
	}
	return resp, nil
}

// engineError is a non-2xx answer, with the daemon's message when it sent one.
func engineError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var m struct{ Message string }
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return fmt.Errorf("docker: GET %s: %s: %s", resp.Request.URL.Path, resp.Status, m.Message)
	}
	return fmt.Errorf("docker: GET %s: %s", resp.Request.URL.Path, resp.Status)
}
