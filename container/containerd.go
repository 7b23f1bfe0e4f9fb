package container

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// containerdAPI is the part of containerd's gRPC API that the containerd Runtime uses — the
// version, a streamed list of the containers of one namespace, one container — spoken with the
// standard library: gRPC is HTTP/2 without TLS on the socket (net/http's unencrypted HTTP/2,
// Go 1.24), each message a 5-byte frame header and a protocol buffer, decoded by hand below for
// the handful of fields read. Not containerd's client, nor its generated API module with
// google.golang.org/grpc: that pulls gRPC, protobuf, the split genproto module, ttrpc and logrus
// into the requirements of every program importing this package, and iLogtail, which pins gRPC
// 1.53 and the pre-split genproto, would have them raised (export/ilogtail/README.md; the README's
// "Container runtimes" section has the numbers).
//
// The messages read (containerd.services.containers.v1, version.v1) are unchanged since
// containerd 1.0.
type containerdAPI struct {
	path      string // socket path
	namespace string
	client    *http.Client
}

// defaultContainerdAddress is where containerd listens unless CONTAINERD_ADDRESS says otherwise.
const defaultContainerdAddress = "/run/containerd/containerd.sock"

// The labels containerd's CRI plugin puts on what it creates: io.cri-containerd.kind is
// "sandbox" on a pod's pause container, "container" on the others.
const (
	labelCRIKind     = "io.cri-containerd.kind"
	labelNerdctlName = "nerdctl/name" // the name nerdctl gave a container outside Kubernetes
)

// maxGRPCMessage bounds one received message: containerd's own send limit is 16 MiB.
const maxGRPCMessage = 16 << 20

// NewContainerd makes a metadata source of the containerd at cfg.Address (a socket path, or
// unix://path), namespace cfg.Namespace, and starts its refresh loop; Close stops it. It does not
// fail when no daemon is reachable (see Runtime).
func NewContainerd(cfg RuntimeConfig) (*Runtime, error) {
	addr := cfg.Address
	if addr == "" {
		addr = os.Getenv("CONTAINERD_ADDRESS")
	}
	if addr == "" {
		addr = defaultContainerdAddress
	}
	if rest, ok := strings.CutPrefix(addr, "unix://"); ok {
		addr = rest
	}
	if !strings.HasPrefix(addr, "/") {
		return nil, fmt.Errorf("containerd: address %q is not a socket path", cfg.Address)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "k8s.io"
	}
	transport := &http.Transport{MaxIdleConns: 2, DisableCompression: true}
	transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", addr)
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true) // gRPC without TLS: HTTP/2 with prior knowledge
	transport.Protocols = &protocols
	api := &containerdAPI{path: addr, namespace: cfg.Namespace, client: &http.Client{Transport: transport}}
	return newRuntime(cfg, api), nil
}

func (c *containerdAPI) kind() string    { return "containerd" }
func (c *containerdAPI) address() string { return c.path + " namespace " + c.namespace }
func (c *containerdAPI) close()          { c.client.CloseIdleConnections() }

func (c *containerdAPI) hello(ctx context.Context) (string, error) {
	var version string
	err := c.call(ctx, "/containerd.services.version.v1.Version/Version", nil, func(msg []byte) error {
		return eachField(msg, func(num int, _ uint64, b []byte) error {
			if num == 1 { // VersionResponse.version
				version = string(b)
			}
			return nil
		})
	})
	if err != nil {
		return "", err
	}
	return "containerd " + version, nil
}

// list returns every container of the namespace, whether its task runs or not: the CRI plugin
// keeps a container whose process exited until the kubelet removes it, and a process that ran in
// it may still be looked up for its last calls.
//
// ListStream (containerd ≥ 1.3) sends one message per container, each under containerd's 16 MiB
// message limit however many containers there are; an older containerd gets List.
func (c *containerdAPI) list(ctx context.Context) ([]listed, error) {
	out, err := c.listWith(ctx, "/containerd.services.containers.v1.Containers/ListStream")
	if errors.Is(err, errUnimplemented) {
		out, err = c.listWith(ctx, "/containerd.services.containers.v1.Containers/List")
	}
	return out, err
}

func (c *containerdAPI) listWith(ctx context.Context, method string) ([]listed, error) {
	var out []listed
	err := c.call(ctx, method, nil, func(msg []byte) error {
		// ListContainerMessage{container = 1}, ListContainersResponse{repeated containers = 1}
		return eachField(msg, func(num int, _ uint64, b []byte) error {
			if num != 1 {
				return nil
			}
			ctr, err := decodeContainer(b, false)
			if err != nil {
				return err
			}
			out = append(out, listed{ID: ctr.ID, Labels: ctr.Labels, Sandbox: ctr.Labels[labelCRIKind] == "sandbox"})
			return nil
		})
	})
	return out, err
}

func (c *containerdAPI) inspect(ctx context.Context, id string) (*Container, error) {
	req := appendString(nil, 1, id) // GetContainerRequest{id = 1}
	var ctr *Container
	err := c.call(ctx, "/containerd.services.containers.v1.Containers/Get", req, func(msg []byte) error {
		return eachField(msg, func(num int, _ uint64, b []byte) error {
			if num != 1 { // GetContainerResponse{container = 1}
				return nil
			}
			var err error
			ctr, err = decodeContainer(b, true)
			return err
		})
	})
	if err == nil && ctr == nil {
		err = fmt.Errorf("containerd: Get %s: no container in the answer", id)
	}
	return ctr, err
}

// decodeContainer reads a containerd.services.containers.v1.Container: id (1), labels (2), image
// (3), and with env the environment from the OCI runtime spec (5, a google.protobuf.Any holding
// the spec's JSON).
func decodeContainer(msg []byte, env bool) (*Container, error) {
	c := &Container{Labels: map[string]string{}, Env: map[string]string{}}
	err := eachField(msg, func(num int, _ uint64, b []byte) error {
		switch num {
		case 1:
			c.ID = string(b)
		case 2:
			var k, v string
			err := eachField(b, func(num int, _ uint64, b []byte) error {
				switch num {
				case 1:
					k = string(b)
				case 2:
					v = string(b)
				}
				return nil
			})
			if err != nil {
				return err
			}
			c.Labels[k] = v
		case 3:
			c.Image = string(b)
		case 5:
			if !env {
				return nil
			}
			return eachField(b, func(num int, _ uint64, b []byte) error {
				if num != 2 { // Any.value
					return nil
				}
				var spec struct {
					Process *struct {
						Env []string `json:"env"`
					} `json:"process"`
				}
				if err := json.Unmarshal(b, &spec); err != nil {
					return fmt.Errorf("containerd: container spec: %w", err)
				}
				if spec.Process != nil {
					for _, kv := range spec.Process.Env {
						k, v, _ := strings.Cut(kv, "=")
						c.Env[k] = v
					}
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.Name = c.Labels[labelNerdctlName]
	if c.Name == "" {
		c.Name = c.ID
	}
	return c, nil
}

// call makes a gRPC call of method with the request message req, handing each message of the
// answer to each (one for a unary call, any number for a stream).
func (c *containerdAPI) call(ctx context.Context, method string, req []byte, each func([]byte) error) error {
	body := make([]byte, 5, 5+len(req))
	binary.BigEndian.PutUint32(body[1:], uint32(len(req)))
	body = append(body, req...)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://containerd"+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/grpc")
	hreq.Header.Set("Te", "trailers")
	hreq.Header.Set("Containerd-Namespace", c.namespace)
	resp, err := c.client.Do(hreq)
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%w to %s: %w", errEngineUnreachable, c.path, err)
	case err != nil:
		return fmt.Errorf("containerd: %s: %w", method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("containerd: %s: HTTP %s", method, resp.Status)
	}
	// An error without messages comes as headers only ("Trailers-Only").
	if st := resp.Header.Get("Grpc-Status"); st != "" {
		return grpcError(method, st, resp.Header.Get("Grpc-Message"))
	}
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(resp.Body, hdr[:]); err != nil {
			if err == io.EOF {
				break
			}
			return fmt.Errorf("containerd: %s: %w", method, err)
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if hdr[0] != 0 {
			return fmt.Errorf("containerd: %s: compressed message (none was asked for)", method)
		}
		if n > maxGRPCMessage {
			return fmt.Errorf("containerd: %s: message of %d bytes exceeds %d", method, n, maxGRPCMessage)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, msg); err != nil {
			return fmt.Errorf("containerd: %s: %w", method, err)
		}
		if err := each(msg); err != nil {
			return err
		}
	}
	return grpcError(method, resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message"))
}

// gRPC status codes read.
const (
	grpcOK            = 0
	grpcNotFound      = 5
	grpcUnimplemented = 12
)

// errUnimplemented: the daemon does not have the method called.
var errUnimplemented = errors.New("unimplemented")

func grpcError(method, status, message string) error {
	code, err := strconv.Atoi(status)
	switch {
	case err != nil:
		return fmt.Errorf("containerd: %s: no gRPC status in the answer", method)
	case code == grpcOK:
		return nil
	case code == grpcNotFound:
		return fmt.Errorf("containerd: %s: %w: %s", method, errEngineNotFound, message)
	case code == grpcUnimplemented:
		return fmt.Errorf("containerd: %s: %w: %s", method, errUnimplemented, message)
	}
	return fmt.Errorf("containerd: %s: gRPC status %d: %s", method, code, message)
}

// eachField walks the fields of a protocol buffer message, calling f with each field's number and
// its value: the integer of a varint or fixed field, the bytes of a length-delimited one. It
// fails on a malformed message (and on groups, which no message read here has).
func eachField(msg []byte, f func(num int, v uint64, b []byte) error) error {
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 || key>>3 == 0 || key>>3 > 1<<29-1 {
			return errBadProtobuf
		}
		msg = msg[n:]
		num := int(key >> 3)
		var v uint64
		var b []byte
		switch key & 7 {
		case 0: // varint
			v, n = binary.Uvarint(msg)
			if n <= 0 {
				return errBadProtobuf
			}
			msg = msg[n:]
		case 1: // 64-bit
			if len(msg) < 8 {
				return errBadProtobuf
			}
			v, msg = binary.LittleEndian.Uint64(msg), msg[8:]
		case 2: // length-delimited
			l, n := binary.Uvarint(msg)
			if n <= 0 || l > uint64(len(msg)-n) {
				return errBadProtobuf
			}
			b, msg = msg[n:n+int(l)], msg[n+int(l):]
		case 5: // 32-bit
			if len(msg) < 4 {
				return errBadProtobuf
			}
			v, msg = uint64(binary.LittleEndian.Uint32(msg)), msg[4:]
		default:
			return errBadProtobuf
		}
		if err := f(num, v, b); err != nil {
			return err
		}
	}
	return nil
}

var errBadProtobuf = errors.New("containerd: malformed protocol buffer message")

// appendString appends field num holding s.
func appendString(b []byte, num int, s string) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
