// Command udpresolver is a resolver that sends every query from one unconnected UDP socket, as
// busy stub resolvers and caching servers do, and reports what it sent and what was answered: the
// accuracy tier's (make accuracy) client for the case where all of a process's DNS traffic is one
// socket with many exchanges in flight.
//
//	udpresolver -server 10.0.0.1:53 [-window 32] [-timeout 10s] NAME/TYPE=COUNT ...
//
// TYPE is A or AAAA. Queries go out in the order given, each with its own transaction id, at most
// window unanswered at a time. It prints one line per NAME/TYPE, "NAME TYPE sent N answered M
// rcode R", then "sent N answered M", and exits 1 if an answer is missing when the timeout ends.
package main
