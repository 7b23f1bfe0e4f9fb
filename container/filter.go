package container

import "regexp"

// FilterConfig is the process filter of an iLogtail config (Common.Include*/Exclude*), field for
// field as observer/config.Config holds it. Every regular expression must match the whole value:
// the config package anchors them ("^(?:…)$"). Nil maps and nil regexps are "not given".
type FilterConfig struct {
	IncludeContainerLabels, ExcludeContainerLabels map[string]*regexp.Regexp
	IncludeK8sLabels, ExcludeK8sLabels             map[string]*regexp.Regexp
	IncludeEnvs, ExcludeEnvs                       map[string]*regexp.Regexp

	IncludeCmdRegex, ExcludeCmdRegex                     *regexp.Regexp
	IncludeContainerNameRegex, ExcludeContainerNameRegex *regexp.Regexp
	IncludePodNameRegex, ExcludePodNameRegex             *regexp.Regexp
	IncludeNamespaceNameRegex, ExcludeNamespaceNameRegex *regexp.Regexp
}

// Filter decides which processes are observed (iLogtail-records.md §1). It is immutable and safe
// for concurrent use; build a new one on reload.
//
// Which criteria apply depends on the process's mode:
//
//   - host: the cmd regexes, on Identity.Cmd;
//   - container: container name (the Docker name), container labels, envs;
//   - kubernetes: namespace, pod name, K8s (pod) labels, container name (the Kubernetes
//     container name, as _container_name_ shows it), container labels, envs.
//
// Criteria of another mode are ignored (a container-name include does not drop host processes).
// Among the criteria that apply:
//
//   - Include: every include criterion given must match. A regex criterion matches when it
//     matches the whole value (an absent value is ""). A map criterion (labels, envs) matches when
//     ANY of its entries matches — iLogtail's "OR across entries" — and an entry matches when the
//     key is present and its regex matches the whole value. (iLogtail 1.x only tested that the key
//     was present, §7.7; we match values.)
//   - Exclude: any exclude criterion matching (any entry of a map) excludes.
//
// The empty FilterConfig lets everything through.
type Filter struct {
	c     FilterConfig
	empty bool
}

// NewFilter builds a Filter.
func NewFilter(c FilterConfig) *Filter {
	empty := len(c.IncludeContainerLabels) == 0 && len(c.ExcludeContainerLabels) == 0 &&
		len(c.IncludeK8sLabels) == 0 && len(c.ExcludeK8sLabels) == 0 &&
		len(c.IncludeEnvs) == 0 && len(c.ExcludeEnvs) == 0 &&
		c.IncludeCmdRegex == nil && c.ExcludeCmdRegex == nil &&
		c.IncludeContainerNameRegex == nil && c.ExcludeContainerNameRegex == nil &&
		c.IncludePodNameRegex == nil && c.ExcludePodNameRegex == nil &&
		c.IncludeNamespaceNameRegex == nil && c.ExcludeNamespaceNameRegex == nil
	return &Filter{c: c, empty: empty}
}

// Empty says the filter lets every process through (the observer can skip calling it).
func (f *Filter) Empty() bool { return f.empty }

// Allows says whether records of the process are wanted. A Pending identity is allowed: its
// container is not known yet, and the decision waits for the final Identity (the observer must
// not disable a process on a Pending identity).
//
// What the observer does with the answer: on false, DisableProcess(pid) in the kernel and drop
// the events already queued for it, remembering (pid, StartTime); every FlushMetaInterval, for
// each disabled pid with Identities.Restarted(pid, start) true, EnableProcess(pid) and forget it.
// On a config reload, re-enable every disabled pid and let the new Filter decide again.
func (f *Filter) Allows(id *Identity) bool {
	if f.empty || id == nil || id.Pending {
		return true
	}
	c := &f.c
	mode := id.Mode
	if id.Container == nil || (mode == ModeKubernetes && id.Container.K8s == nil) {
		mode = ModeHost // a hand-made Identity without the metadata its mode needs
	}
	switch mode {
	case ModeHost:
		return include(c.IncludeCmdRegex, id.Cmd) && !exclude(c.ExcludeCmdRegex, id.Cmd)
	case ModeKubernetes:
		k := id.Container.K8s
		if !include(c.IncludeNamespaceNameRegex, k.Namespace) || exclude(c.ExcludeNamespaceNameRegex, k.Namespace) ||
			!include(c.IncludePodNameRegex, k.PodName) || exclude(c.ExcludePodNameRegex, k.PodName) ||
			!includeMap(c.IncludeK8sLabels, k.Labels) || excludeMap(c.ExcludeK8sLabels, k.Labels) {
			return false
		}
	}
	ctr := id.Container
	name := id.ContainerName()
	return include(c.IncludeContainerNameRegex, name) && !exclude(c.ExcludeContainerNameRegex, name) &&
		includeMap(c.IncludeContainerLabels, ctr.Labels) && !excludeMap(c.ExcludeContainerLabels, ctr.Labels) &&
		includeMap(c.IncludeEnvs, ctr.Env) && !excludeMap(c.ExcludeEnvs, ctr.Env)
}

func include(re *regexp.Regexp, v string) bool { return re == nil || re.MatchString(v) }
func exclude(re *regexp.Regexp, v string) bool { return re != nil && re.MatchString(v) }

func anyEntry(m map[string]*regexp.Regexp, values map[string]string) bool {
	for k, re := range m {
		if v, ok := values[k]; ok && (re == nil || re.MatchString(v)) {
			return true
		}
	}
	return false
}

func includeMap(m map[string]*regexp.Regexp, values map[string]string) bool {
	return len(m) == 0 || anyEntry(m, values)
}

func excludeMap(m map[string]*regexp.Regexp, values map[string]string) bool {
	return len(m) > 0 && anyEntry(m, values)
}
