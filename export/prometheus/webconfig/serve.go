package webconfig

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// maxCachedLogins bounds the cache of successful basic auth checks: a few scrapers log in with a
// few passwords.
const maxCachedLogins = 64

// Serve serves srv on l as the web configuration file at path says ("": plain srv.Serve). The
// file is read again for every request (users, headers) and every TLS handshake (certificates,
// key, client CAs, versions), so those change without a restart; whether TLS is on and http2 are
// decided here. While the file is unusable, requests get 500 and handshakes fail; the first
// failure and the recovery are logged.
//
// Requests for the paths in open (exactly, as sent) skip basic auth — TLS and the headers still
// apply: they are for clients that cannot log in, such as kubelet probes of /healthz.
func Serve(l net.Listener, srv *http.Server, path string, open ...string) error {
	if path == "" {
		return srv.Serve(l)
	}
	c, err := Load(path)
	if err != nil {
		return err
	}
	s := &server{path: path, tls: c.TLS != nil, next: srv.Handler, open: open, logins: map[[sha256.Size]byte]struct{}{}}
	if s.next == nil {
		s.next = http.DefaultServeMux
	}
	srv.Handler = s
	if c.TLS == nil {
		return srv.Serve(l)
	}
	if _, err := c.TLS.Config(); err != nil {
		return err
	}
	protos := []string{"h2", "http/1.1"}
	if !c.HTTP2 {
		protos = protos[1:]
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	// srv.Serve sees *tls.Conn and answers plain HTTP with 400, as ServeTLS would.
	return srv.Serve(tls.NewListener(l, &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := s.load()
			var tc *tls.Config
			if err == nil {
				tc, err = c.TLS.Config()
			}
			if s.report(err); err != nil {
				return nil, err
			}
			tc.NextProtos = protos
			return tc, nil
		},
	}))
}

type server struct {
	path string
	tls  bool // whether it serves TLS, fixed at the start
	next http.Handler
	open []string // paths served without basic auth

	mu      sync.Mutex
	lastErr string // of the last reading of the file, "" when it was usable

	// bcryptMu runs one bcrypt comparison at a time: password guesses cost one core at most.
	bcryptMu sync.Mutex
	// logins are the keys (login) of successful checks; mu guards it.
	logins map[[sha256.Size]byte]struct{}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.load()
	if s.report(err); err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	for k, v := range c.Headers {
		w.Header().Set(k, v)
	}
	if len(c.Users) > 0 && !slices.Contains(s.open, r.URL.Path) && !s.authorized(c.Users, r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="netobserver", charset="UTF-8"`)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	s.next.ServeHTTP(w, r)
}

// load reads the file; one that turns TLS on or off is unusable until a restart.
func (s *server) load() (*Config, error) {
	c, err := Load(s.path)
	switch {
	case err != nil:
		return nil, err
	case c.TLS == nil && s.tls:
		return nil, errors.New("tls_server_config was removed: serving plain HTTP needs a restart")
	case c.TLS != nil && !s.tls:
		return nil, errors.New("tls_server_config was added: serving TLS needs a restart")
	}
	return c, nil
}

// report logs err when it differs from the last reading's, and the recovery.
func (s *server) report(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	s.mu.Lock()
	last := s.lastErr
	s.lastErr = msg
	s.mu.Unlock()
	switch {
	case msg == last:
	case msg == "":
		slog.Info("web config usable again", "web_config", s.path)
	default:
		slog.Error("web config unusable: requests get 500, TLS handshakes fail", "web_config", s.path, "error", msg)
	}
}

// authorized reports whether r's basic auth credentials are those of one of users. Finding the
// user takes the same time whichever it is, or none; an unknown user costs a bcrypt comparison
// too, against a hash of the users' highest cost.
func (s *server) authorized(users []User, r *http.Request) bool {
	name, password, ok := r.BasicAuth()
	if !ok {
		return false
	}
	want := sha256.Sum256([]byte(name))
	var hash []byte
	cost := bcrypt.MinCost
	for _, u := range users {
		got := sha256.Sum256([]byte(u.Name))
		if subtle.ConstantTimeCompare(want[:], got[:]) == 1 {
			hash = u.Hash
		}
		if c, err := bcrypt.Cost(u.Hash); err == nil {
			cost = max(cost, c)
		}
	}
	known := hash != nil
	if !known {
		hash = unknownUserHash(cost)
	}
	key := login(name, hash, password)
	s.mu.Lock()
	_, cached := s.logins[key]
	s.mu.Unlock()
	if cached {
		return known
	}
	s.bcryptMu.Lock()
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	s.bcryptMu.Unlock()
	if err != nil || !known {
		return false
	}
	s.mu.Lock()
	if len(s.logins) >= maxCachedLogins {
		for k := range s.logins { // Go starts map iteration at a random entry
			delete(s.logins, k)
			break
		}
	}
	s.logins[key] = struct{}{}
	s.mu.Unlock()
	return true
}

// login is the cache key of one check: a digest, so the cache holds no password. The hash is in
// it, so a changed password in the file is checked again.
func login(name string, hash []byte, password string) [sha256.Size]byte {
	h := sha256.New()
	for _, b := range [][]byte{[]byte(name), hash, []byte(password)} {
		h.Write(binary.AppendUvarint(nil, uint64(len(b))))
		h.Write(b)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

var unknownUserHashes sync.Map // bcrypt cost → hash

// unknownUserHash returns a bcrypt hash of cost that no password matches in practice: what an
// unknown user's password is compared with, so that it costs what a known user's does.
func unknownUserHash(cost int) []byte {
	if h, ok := unknownUserHashes.Load(cost); ok {
		return h.([]byte)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("netobserver: no such user"), cost)
	if err != nil { // a cost out of range, which bcrypt.Cost refuses: nil matches nothing
		return nil
	}
	unknownUserHashes.Store(cost, h)
	return h
}
