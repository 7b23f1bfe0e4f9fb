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

// K8sInfo is the Kubernetes identity of a container, from the io.kubernetes.* labels the kubelet
// puts on it (through dockershim on Docker, through the CRI plugin on containerd).
type K8sInfo struct {
	// PodName, Namespace, ContainerName and PodUID come from io.kubernetes.pod.name,
	// io.kubernetes.pod.namespace, io.kubernetes.container.name and io.kubernetes.pod.uid.
	PodName, Namespace, ContainerName, PodUID string
	// Workload is the name of the controller that made the pod, guessed from the pod name
	// (WorkloadName).
	Workload string
	// Labels are the pod's labels. dockershim and the CRI plugin put them on the pod's sandbox
	// ("pause") container, not on the application containers, so they are the sandbox's labels
	// without the io.kubernetes.*, io.cri-containerd.* and annotation.* keys the kubelet and the
	// runtime add; empty until the sandbox has been listed.
	Labels map[string]string
}

// Kubernetes labels the kubelet sets (through dockershim or a CRI runtime).
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelContainerName = "io.kubernetes.container.name"
	labelPodUID        = "io.kubernetes.pod.uid"
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

// Errors of Runtime.Container.
var (
	// ErrNoDaemon: no runtime daemon is reachable now; the process is to be shown in host mode.
	ErrNoDaemon = errors.New("container runtime: no daemon")
	// ErrNotFound: the runtime does not know the container (another runtime's, or gone).
	ErrNotFound = errors.New("container runtime: no such container")
	// ErrRateLimited: the container is new and the inspect budget is spent; ask again later.
	ErrRateLimited = errors.New("container runtime: inspect rate limit")
)

// RuntimeConfig configures a runtime metadata source (NewDocker, NewContainerd). Zero values take
// the defaults.
type RuntimeConfig struct {
	// Address is where the runtime's API listens. Docker: "unix:///var/run/docker.sock" (the
	// default, or $DOCKER_HOST when set) or tcp://host:port. containerd: the socket path
	// "/run/containerd/containerd.sock" (the default, or $CONTAINERD_ADDRESS when set).
	Address string
	// Namespace is the containerd namespace listed (default "k8s.io", the CRI plugin's); Docker
	// ignores it.
	Namespace string
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

// runtimeAPI is what Runtime needs of a runtime's API; engine (Docker) and containerdAPI
// implement it. Errors wrap errEngineUnreachable when no daemon listens and errEngineNotFound
// when the daemon does not know the container.
type runtimeAPI interface {
	// kind names the runtime in log lines: "docker", "containerd".
	kind() string
	// address is where the daemon is looked for, for log lines.
	address() string
	// hello checks the daemon answers and describes it for the log line ("Engine 20.10.24, API
	// 1.41").
	hello(ctx context.Context) (string, error)
	// list returns the containers processes may run in.
	list(ctx context.Context) ([]listed, error)
	// inspect returns one container's metadata, K8s left for Runtime to fill.
	inspect(ctx context.Context, id string) (*Container, error)
	close()
}

// listed is what a list says of a container.
type listed struct {
	ID string
	// Name is the container's name when the list tells it ("" when it does not), so that a
	// renamed container is inspected again.
	Name   string
	Labels map[string]string
	// Sandbox: the container is a pod's sandbox, whose labels are the pod's.
	Sandbox bool
}

// Runtime is container metadata from a container runtime's API (Docker Engine, containerd): a
// list of its containers every RefreshInterval, and an inspect of each container the first time
// a process in it is looked up. Safe for concurrent use.
//
// Without a reachable daemon, Container answers ErrNoDaemon at once (no call is made per lookup),
// one line is logged, and a background loop retries with exponential backoff; when the daemon
// appears, Generation changes so that callers re-resolve.
type Runtime struct {
	cfg    RuntimeConfig
	api    runtimeAPI
	bucket *tokenBucket

	mu         sync.Mutex
	up         bool
	gen        atomic.Uint64                // written under mu, read without it: every event asks
	listed     map[string]listed            // last list, by id
	inspected  map[string]*Container        // by id; only ids in the last list or inspected since
	missing    map[string]bool              // ids the daemon said it does not know, until the next list
	podLabels  map[string]map[string]string // pod uid → pod labels (from sandboxes)
	inspects   int                          // inspect calls made (tests, stats)
	everLogged bool

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var _ Metadata = (*Runtime)(nil)

const missingCap = 4096 // bound on remembered unknown ids between two lists

func newRuntime(cfg RuntimeConfig, api runtimeAPI) *Runtime {
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
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Runtime{
		cfg:       cfg,
		api:       api,
		bucket:    newTokenBucket(cfg.InspectRate, cfg.InspectBurst, cfg.Now),
		inspected: map[string]*Container{},
		missing:   map[string]bool{},
		podLabels: map[string]map[string]string{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go r.loop()
	return r
}

func (c *RuntimeConfig) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 2 * time.Second
	}
	return c.Timeout
}

// Close stops the refresh loop and closes the client.
func (r *Runtime) Close() error {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	r.api.close()
	return nil
}

// Kind names the runtime: "docker" or "containerd".
func (r *Runtime) Kind() string { return r.api.kind() }

// Up says whether the daemon answered the last list.
func (r *Runtime) Up() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

// Generation changes whenever what Container would answer may have changed: the daemon came or
// went, or a list found containers added, removed, renamed or relabelled. Callers caching answers
// re-resolve when it moves.
func (r *Runtime) Generation() uint64 { return r.gen.Load() }

// Inspects returns how many inspect calls were made.
func (r *Runtime) Inspects() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inspects
}

// Container returns the metadata of container id. A container seen before answers from memory;
// a new one is inspected on the caller's goroutine (bounded by Timeout) if the rate limit allows,
// else ErrRateLimited. Without a daemon: ErrNoDaemon, at once.
func (r *Runtime) Container(id string) (*Container, error) {
	r.mu.Lock()
	if !r.up {
		r.mu.Unlock()
		return nil, ErrNoDaemon
	}
	if c := r.inspected[id]; c != nil {
		r.mu.Unlock()
		return c, nil
	}
	if r.missing[id] {
		r.mu.Unlock()
		return nil, ErrNotFound
	}
	if !r.bucket.take() {
		r.mu.Unlock()
		return nil, ErrRateLimited
	}
	r.inspects++
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.timeout())
	defer cancel()
	c, err := r.api.inspect(ctx, id)

	if errors.Is(err, errEngineUnreachable) {
		// The daemon went away between two lists: say so now rather than at the next list, so
		// that lookups stop trying.
		r.down(err)
		return nil, ErrNoDaemon
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, errEngineNotFound):
		if len(r.missing) >= missingCap {
			clear(r.missing)
		}
		r.missing[id] = true
		return nil, ErrNotFound
	case err != nil:
		// A transient failure; the refresh loop decides whether the daemon is gone.
		return nil, err
	}
	r.withPod(c)
	r.inspected[id] = c
	return c, nil
}

func (r *Runtime) loop() {
	defer close(r.done)
	backoff := r.cfg.MinBackoff
	for {
		var wait time.Duration
		if r.refresh() {
			backoff = r.cfg.MinBackoff
			wait = r.cfg.RefreshInterval
		} else {
			wait = backoff
			backoff = min(2*backoff, r.cfg.MaxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-r.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refresh lists the containers and reports whether the daemon answered. Transitions between up
// and down are logged, once each.
func (r *Runtime) refresh() bool {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.timeout())
	defer cancel()
	wasUp := r.Up()
	var about string
	if !wasUp {
		// Ask first so that the API version is negotiated and the log line can name the daemon.
		var err error
		if about, err = r.api.hello(ctx); err != nil {
			r.down(err)
			return false
		}
	}
	list, err := r.api.list(ctx)
	if err != nil {
		r.down(err)
		return false
	}
	if !wasUp {
		r.cfg.Logf("%s: daemon at %s (%s), %d containers", r.api.kind(), r.api.address(), about, len(list))
	}
	r.apply(list)
	return true
}

func (r *Runtime) down(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.up:
		r.cfg.Logf("%s: lost the daemon at %s (%v); its containers are shown in host mode until it is back", r.api.kind(), r.api.address(), err)
	case !r.everLogged:
		r.cfg.Logf("%s: no daemon at %s (%v); its containers are shown in host mode, retrying in the background", r.api.kind(), r.api.address(), err)
	default:
		return // still down: nothing new to say
	}
	r.everLogged = true
	r.up = false
	r.gen.Add(1)
	clear(r.inspected)
	clear(r.missing)
	r.listed = nil
}

// apply installs a fresh list: forgets containers that are gone, drops cached metadata whose
// labels or name changed, and recomputes pod labels from the sandboxes.
func (r *Runtime) apply(list []listed) {
	byID := make(map[string]listed, len(list))
	pods := map[string]map[string]string{}
	for _, s := range list {
		byID[s.ID] = s
		if s.Sandbox && s.Labels[labelPodUID] != "" {
			pods[s.Labels[labelPodUID]] = podLabelsOf(s.Labels)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := !r.up || len(byID) != len(r.listed)
	r.up = true
	r.everLogged = true
	for id, c := range r.inspected {
		s, ok := byID[id]
		if !ok || !sameLabels(s.Labels, c.Labels) || (s.Name != "" && s.Name != c.Name) {
			delete(r.inspected, id)
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
			r.inspected[id] = &cc
			changed = true
		}
	}
	for id := range byID {
		if _, ok := r.listed[id]; !ok {
			changed = true
		}
	}
	r.listed = byID
	r.podLabels = pods
	clear(r.missing)
	if changed {
		r.gen.Add(1)
	}
}

// withPod fills c.K8s from the kubelet's labels and the pod labels of the last list; r.mu held.
func (r *Runtime) withPod(c *Container) {
	if pod := c.Labels[labelPodName]; pod != "" {
		c.K8s = &K8sInfo{
			PodName:       pod,
			Namespace:     c.Labels[labelPodNamespace],
			ContainerName: c.Labels[labelContainerName],
			PodUID:        c.Labels[labelPodUID],
			Workload:      WorkloadName(pod),
			Labels:        r.podLabels[c.Labels[labelPodUID]],
		}
	}
}

// podLabelsOf keeps a sandbox's labels that came from the pod: the kubelet's own are
// io.kubernetes.* and annotation.* (annotations); containerd adds io.cri-containerd.* and
// io.containerd.* (the image's stop signal).
func podLabelsOf(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if strings.HasPrefix(k, "io.kubernetes.") || strings.HasPrefix(k, "annotation.") ||
			strings.HasPrefix(k, "io.cri-containerd.") || strings.HasPrefix(k, "io.containerd.") {
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
// concurrent use (Runtime holds its mutex).
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
