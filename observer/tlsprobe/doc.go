// Package tlsprobe finds the TLS libraries the observed processes use and attaches the kernel
// library's TLS uprobes to them, so that the plaintext they hand over becomes data events of the
// connection (see bpf/README.md, "TLS plaintext").
//
// It owns: finding candidate files (the files processes map, through /proc/PID/root so that
// containers work, and the standard library directories of a process that just exec'd),
// deduplicating them by device and inode (a uprobe on an inode covers every process that maps
// it, now and later), asking each Prober which probes a file needs, and attaching them once,
// within a bound on the number of files. A Prober knows one TLS library: OpenSSL's libssl, and
// Go's crypto/tls, which is linked into each Go program: an ExeProber is asked about every
// process's executable (/proc/PID/exe, at start and at each exec) instead of the files it maps.
package tlsprobe
