// Package fileperm creates the files netobserver writes with exact modes, whatever the umask:
// the umask can only take permission bits away, and a trace of raw payloads or a file of
// records must not become readable by more users than meant, nor less by surprise.
//
// Modes are set on what this package creates — files and directories — never on what already
// exists: an administrator's choice for an existing file stands.
package fileperm
