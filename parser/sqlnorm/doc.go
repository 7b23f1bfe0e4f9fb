// Package sqlnorm turns SQL statement text into the form netobserver records: literals,
// placeholders and value lists become ?, comments go, whitespace collapses, the length is bounded,
// and the verb is extracted. Values never leave the host, whichever way a server would read a
// string's escapes. It owns only the text; the MySQL and PostgreSQL parsers own the wire. It never
// fails and allocates nothing once a Normalizer's buffer exists. The rules, with examples:
// README.md.
package sqlnorm
