package container

import (
	"context"
	"errors"
	"log"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Container is the metadata of one container, as records and filters use it.
type Container struct {
	// ID is the 64-hex container id.
	ID string
	// Name is the container name without Docker's leading '/'.
	Name string
	// Image is the image the container was created from, as the user named it.
	Image string
	// Labels are the container's own labels, all of them (including io.kubernetes.*).
	Labels map[string]string
	// Env is the container's environment (Config.Env, split at the first '='); a variable given
	// without '=' has the empty value.
	Env map[string]string
	// K8s is the Kubernetes identity; nil for a container no kubelet made.
	K8s *K8sInfo
}

// K8sInfo is the Kubernetes identity of a container, from the io.kubernetes.* labels the kubelet's
// dockershim put on it.
type K8sInfo struct {
	// PodName, Namespace, ContainerName and PodUID come from io.kubernetes.pod.name,
	// io.kubernetes.pod.namespace, io.kubernetes.container.name and io.kubernetes.pod.uid.
	PodName, Namespace, ContainerName, PodUID string
	// Workload is the name of the controller that made the pod, guessed from the pod name
	// (WorkloadName).
	Workload string
	// Labels are the pod's labels. dockershim put them on the pod's sandbox ("pause") container,
	// not on the application containers, so they are the sandbox's labels without the
	// io.kubernetes.* and annotation.* keys the kubelet adds; empty until the sandbox has been
	// listed.
	Labels map[string]string
}

// Kubernetes labels dockershim sets.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelContainerName = "io.kubernetes.container.name"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelDockerType    = "io.kubernetes.docker.type" // "podsandbox" on the pause container
)

var (
	deploymentPod  = regexp.MustCompile(`^(.+)-[a-z0-9]{9,10}-[a-z0-9]{5}$`)
	daemonSetPod   = regexp.MustCompile(`^(.+)-[a-z0-9]{5}$`)
	statefulSetPod = regexp.MustCompile(`^(.+)-[0-9]+$`)
)

// WorkloadName guesses the workload (controller) name of a pod from its name, the way iLogtail
// did: "<name>-<9-10 alnum>-<5 alnum>" is a Deployment's ReplicaSet pod → name;
// "<name>-<5 alnum>" is a DaemonSet's (or a bare ReplicaSet's/Job's) pod → name; "<name>-<digits>"
// is a StatefulSet's pod → name. Rules are tried in that order; a pod name matching none is its
// own workload. Alphanumerics are lower case, as pod names are.
func WorkloadName(pod string) string {
	for _, re := range []*regexp.Regexp{deploymentPod, daemonSetPod, statefulSetPod} {
		if m := re.FindStringSubmatch(pod); m != nil {
			return m[1]
		}
	}
	return pod
}

// Errors of Docker.Container.
var (
	// ErrNoDaemon: no Docker daemon is reachable now; the process is to be shown in host mode.
	ErrNoDaemon = errors.New("docker: no daemon")
	// ErrNotFound: the daemon does not know the container (not a Docker container, or gone).
	ErrNotFound = errors.New("docker: no such container")
	// ErrRateLimited: the container is new and the inspect budget is spent; ask again later.
	ErrRateLimited = errors.New("docker: inspect rate limit")
)

// DockerConfig configures a Docker metadata source. Zero values take the defaults.
type DockerConfig struct {
	// Host is the daemon address, e.g. "unix:///var/run/docker.sock" (the default, or
	// $DOCKER_HOST when set).
	Host string
	// RefreshInterval is how often all containers are listed (Common.FlushMetaInterval; default
	// 30 s). Containers missing from a list are forgotten.
	RefreshInterval time.Duration
	// InspectRate and InspectBurst bound the on-demand inspects of new containers: a token bucket
	// of InspectBurst tokens (default 10) refilled at InspectRate per second (default 10). A
	// node starting hundreds of containers at once thus costs the daemon at most 10 inspects a
	// second, and the containers beyond are resolved over the following seconds.
	InspectRate  float64
	InspectBurst int
	// MinBackoff and MaxBackoff bound the wait between attempts to reach an absent daemon; it
	// doubles from MinBackoff (default 1 s) up to MaxBackoff (default RefreshInterval).
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds each API call (default 2 s): an inspect runs on the caller's goroutine.
	Timeout time.Duration
	// Logf receives the few lines worth a log: daemon found, daemon absent or lost (once per
	// change, never per lookup). Default log.Printf.
	Logf func(format string, args ...any)
	// Now is the clock of the rate limiter (tests); default time.Now.
	Now func() time.Time
}

// Docker is container metadata from the Docker Engine API: a list of all containers every
// RefreshInterval, and an inspect (for the environment) of each container the first time a
// process in it is looked up. Safe for concurrent use.
//
// Without a reachable daemon, Container answers ErrNoDaemon at once (no call is made per lookup),
// one line is logged, and a background loop retries with exponential backoff; when the daemon
// appears, Generation changes so that callers re-resolve.
type Docker struct {
	cfg    DockerConfig
	cli    *engine
	bucket *tokenBucket

	mu         sync.Mutex
	up         bool
	gen        atomic.Uint64                // written under mu, read without it: every event asks
	listed     map[string]engineContainer   // last list, by id
	inspected  map[string]*Container        // by id; only ids in the last list or inspected since
	missing    map[string]bool              // ids the daemon said it does not know, until the next list
	podLabels  map[string]map[string]string // pod uid → pod labels (from sandboxes)
	inspects   int                          // inspect calls made (tests, stats)
	everLogged bool

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var _ Metadata = (*Docker)(nil)

const missingCap = 4096 // bound on remembered unknown ids between two lists

// NewDocker makes a Docker metadata source and starts its refresh loop; Close stops it. It does
// not fail when no daemon is reachable (see Docker).
func NewDocker(cfg DockerConfig) (*Docker, error) {
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 30 * time.Second
	}
	if cfg.InspectRate <= 0 {
		cfg.InspectRate = 10
	}
	if cfg.InspectBurst <= 0 {
		cfg.InspectBurst = 10
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = cfg.RefreshInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cli, err := newEngine(cfg.Host)
	if err != nil {
		return nil, err // only a malformed Host or DOCKER_* variable
	}
	d := &Docker{
		cfg:       cfg,
		cli:       cli,
		bucket:    newTokenBucket(cfg.InspectRate, cfg.InspectBurst, cfg.Now),
		inspected: map[string]*Container{},
		missing:   map[string]bool{},
		podLabels: map[string]map[string]string{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go d.loop()
	return d, nil
}

// Close stops the refresh loop and closes the client.
func (d *Docker) Close() error {
	d.once.Do(func() { close(d.stop) })
	<-d.done
	d.cli.close()
	return nil
}

// Up says whether the daemon answered the last list.
func (d *Docker) Up() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.up
}

// Generation changes whenever what Container would answer may have changed: the daemon came or
// went, or a list found containers added, removed or relabelled. Callers caching answers
// re-resolve when it moves.
func (d *Docker) Generation() uint64 { return d.gen.Load() }

// Inspects returns how many inspect calls were made.
func (d *Docker) Inspects() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inspects
}

// Container returns the metadata of container id. A container seen before answers from memory;
// a new one is inspected on the caller's goroutine (bounded by Timeout) if the rate limit allows,
// else ErrRateLimited. Without a daemon: ErrNoDaemon, at once.
func (d *Docker) Container(id string) (*Container, error) {
	d.mu.Lock()
	if !d.up {
		d.mu.Unlock()
		return nil, ErrNoDaemon
	}
	if c := d.inspected[id]; c != nil {
		d.mu.Unlock()
		return c, nil
	}
	if d.missing[id] {
		d.mu.Unlock()
		return nil, ErrNotFound
	}
	if !d.bucket.take() {
		d.mu.Unlock()
		return nil, ErrRateLimited
	}
	d.inspects++
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
	defer cancel()
	resp, err := d.cli.inspect(ctx, id)

	if errors.Is(err, errEngineUnreachable) {
		// The daemon went away between two lists: say so now rather than at the next list, so
		// that lookups stop trying.
		d.down(err)
		return nil, ErrNoDaemon
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case errors.Is(err, errEngineNotFound):
		if len(d.missing) >= missingCap {
			clear(d.missing)
		}
		d.missing[id] = true
		return nil, ErrNotFound
	case err != nil:
		// A transient failure; the refresh loop decides whether the daemon is gone.
		return nil, err
	}
	c := d.fromInspect(resp)
	d.inspected[id] = c
	return c, nil
}

func (d *Docker) loop() {
	defer close(d.done)
	backoff := d.cfg.MinBackoff
	for {
		var wait time.Duration
		if d.refresh() {
			backoff = d.cfg.MinBackoff
			wait = d.cfg.RefreshInterval
		} else {
			wait = backoff
			backoff = min(2*backoff, d.cfg.MaxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-d.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refresh lists the running containers (processes live only in those; a pod's sandbox runs too)
// and reports whether the daemon answered. Transitions between up
// and down are logged, once each.
func (d *Docker) refresh() bool {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
	defer cancel()
	wasUp := d.Up()
	if !wasUp {
		// Ping first so the API version is negotiated and the log line can name the engine.
		if err := d.cli.ping(ctx); err != nil {
			d.down(err)
			return false
		}
	}
	list, err := d.cli.list(ctx)
	if err != nil {
		d.down(err)
		return false
	}
	if !wasUp {
		version := "?"
		if v, err := d.cli.serverVersion(ctx); err == nil {
			version = v
		}
		d.cfg.Logf("docker: daemon at %s (Engine %s, API %s), %d containers", d.cli.host, version, d.cli.apiVersion(), len(list))
	}
	d.apply(list)
	return true
}

func (d *Docker) down(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.up:
		d.cfg.Logf("docker: lost the daemon at %s (%v); containers are shown in host mode until it is back", d.cli.host, err)
	case !d.everLogged:
		d.cfg.Logf("docker: no daemon at %s (%v); processes are shown in host mode, retrying in the background", d.cli.host, err)
	default:
		return // still down: nothing new to say
	}
	d.everLogged = true
	d.up = false
	d.gen.Add(1)
	clear(d.inspected)
	clear(d.missing)
	d.listed = nil
}

// apply installs a fresh list: forgets containers that are gone, drops cached metadata whose
// labels changed, and recomputes pod labels from the sandboxes.
func (d *Docker) apply(list []engineContainer) {
	listed := make(map[string]engineContainer, len(list))
	pods := map[string]map[string]string{}
	for _, s := range list {
		listed[s.ID] = s
		if s.Labels[labelDockerType] == "podsandbox" && s.Labels[labelPodUID] != "" {
			pods[s.Labels[labelPodUID]] = podLabelsOf(s.Labels)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := !d.up || len(listed) != len(d.listed)
	d.up = true
	d.everLogged = true
	for id, c := range d.inspected {
		s, ok := listed[id]
		if !ok || !sameLabels(s.Labels, c.Labels) {
			delete(d.inspected, id)
			changed = true
			continue
		}
		if c.K8s != nil && !sameLabels(pods[c.K8s.PodUID], c.K8s.Labels) {
			// The pod's sandbox (and its labels) appeared or changed: update a copy, since
			// callers may hold the old one.
			k := *c.K8s
			k.Labels = pods[c.K8s.PodUID]
			cc := *c
			cc.K8s = &k
			d.inspected[id] = &cc
			changed = true
		}
	}
	for id := range listed {
		if _, ok := d.listed[id]; !ok {
			changed = true
		}
	}
	d.listed = listed
	d.podLabels = pods
	clear(d.missing)
	if changed {
		d.gen.Add(1)
	}
}

func (d *Docker) fromInspect(r engineInspect) *Container {
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
	if pod := c.Labels[labelPodName]; pod != "" {
		c.K8s = &K8sInfo{
			PodName:       pod,
			Namespace:     c.Labels[labelPodNamespace],
			ContainerName: c.Labels[labelContainerName],
			PodUID:        c.Labels[labelPodUID],
			Workload:      WorkloadName(pod),
			Labels:        d.podLabels[c.Labels[labelPodUID]],
		}
	}
	return c
}

// podLabelsOf keeps a sandbox's labels that came from the pod: the kubelet's own are
// io.kubernetes.* and annotation.* (annotations).
func podLabelsOf(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if strings.HasPrefix(k, "io.kubernetes.") || strings.HasPrefix(k, "annotation.") {
			continue
		}
		out[k] = v
	}
	return out
}

func sameLabels(a, b map[string]string) bool {
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

// tokenBucket is a rate limiter: up to burst tokens, refilled at rate per second. Not safe for
// concurrent use (Docker holds its mutex).
type tokenBucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newTokenBucket(rate float64, burst int, now func() time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now(), now: now}
}

func (b *tokenBucket) take() bool {
	now := b.now()
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.burst, b.tokens+el*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
