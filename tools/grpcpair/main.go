package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grpcpair server|client [flags]")
		os.Exit(2)
	}
	encoding.RegisterCodec(rawCodec{})
	switch os.Args[1] {
	case "server":
		serve(os.Args[2:])
	case "client":
		os.Exit(client(os.Args[2:]))
	default:
		fmt.Fprintln(os.Stderr, "usage: grpcpair server|client [flags]")
		os.Exit(2)
	}
}

// rawCodec carries *[]byte as they are: Echo's messages, without protoc.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append((*v.(*[]byte))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

const (
	echoUnary  = "/netobserver.test.Echo/Unary"
	echoFail   = "/netobserver.test.Echo/Fail"
	echoStream = "/netobserver.test.Echo/Stream"
	check      = "/grpc.health.v1.Health/Check"
	watch      = "/grpc.health.v1.Health/Watch"
)

// echoService is netobserver.test.Echo, described by hand.
var echoService = grpc.ServiceDesc{
	ServiceName: "netobserver.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Unary", Handler: unary(nil)},
		{MethodName: "Fail", Handler: unary(status.Error(codes.PermissionDenied, "not for you"))},
	},
	Streams: []grpc.StreamDesc{{StreamName: "Stream", ServerStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
		var in []byte
		if err := s.RecvMsg(&in); err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			out := []byte(fmt.Sprintf("%s %d", in, i))
			if err := s.SendMsg(&out); err != nil {
				return err
			}
		}
		return nil
	}}},
}

// unary answers its request with itself, or fails with err.
func unary(err error) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := new([]byte)
		if e := dec(in); e != nil {
			return nil, e
		}
		h := func(context.Context, any) (any, error) {
			if err != nil {
				return nil, err
			}
			return in, nil
		}
		if ic == nil {
			return h(ctx, in)
		}
		return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv}, h)
	}
}

// tally counts calls by method and status code.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) add(method string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[method+" "+status.Code(err).String()]++
}

func (t *tally) print(prefix string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.n))
	for k := range t.n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%s %s %d\n", prefix, k, t.n[k])
	}
}

func serve(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:50051", "address to serve on")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcpair:", err)
		os.Exit(1)
	}
	var served tally
	s := grpc.NewServer(
		// Echo's unary handlers call the interceptor with an empty FullMethod; the stream's
		// context has it.
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			m, _ := grpc.Method(ctx)
			served.add(m, err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			err := h(srv, ss)
			served.add(info.FullMethod, err)
			return err
		}))
	healthpb.RegisterHealthServer(s, health.NewServer())
	s.RegisterService(&echoService, nil)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		s.Stop()
	}()
	fmt.Println("listening", ln.Addr())
	if err := s.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		fmt.Fprintln(os.Stderr, "grpcpair:", err)
		os.Exit(1)
	}
	served.print("served")
}

// kinds are the calls the client makes, call i of kind i mod len(kinds), with the code each must
// end with.
var kinds = []struct {
	method string
	want   codes.Code
}{{check, codes.OK}, {check, codes.NotFound}, {echoUnary, codes.OK}, {echoFail, codes.PermissionDenied}, {echoStream, codes.OK}}

func client(args []string) int {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "server address")
	n := fs.Int("n", 1000, "calls to make")
	conns := fs.Int("conns", 4, "connections")
	concurrency := fs.Int("concurrency", 16, "calls in flight")
	watches := fs.Int("watch", 0, "Health/Watch calls, cancelled after their first message")
	hold := fs.Duration("hold", 0, "keep the connections idle this long after the calls, then make -n calls again")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cs := make([]*grpc.ClientConn, *conns)
	for i := range cs {
		c, err := grpc.DialContext(ctx, *addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithBlock())
		if err != nil {
			fmt.Fprintln(os.Stderr, "grpcpair:", err)
			return 1
		}
		defer c.Close()
		cs[i] = c
	}
	var made tally
	var wrong atomic.Int64
	round := func() {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < *concurrency; w++ {
			wg.Add(1)
			go func(c *grpc.ClientConn) {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= *n {
						return
					}
					k := kinds[i%len(kinds)]
					err := call(ctx, c, k.method, i)
					made.add(k.method, err)
					if status.Code(err) != k.want {
						if wrong.Add(1) == 1 {
							fmt.Fprintf(os.Stderr, "grpcpair: %s: %v\n", k.method, err)
						}
					}
				}
			}(cs[w%len(cs)])
		}
		for w := 0; w < *watches; w++ {
			err := watchOnce(ctx, cs[w%len(cs)])
			made.add(watch, err)
			if status.Code(err) != codes.Canceled && wrong.Add(1) == 1 {
				fmt.Fprintf(os.Stderr, "grpcpair: %s: %v\n", watch, err)
			}
		}
		wg.Wait()
	}
	round()
	if *hold > 0 {
		fmt.Println("holding")
		time.Sleep(*hold)
		round()
	}
	made.print("calls")
	fmt.Println("connections", len(cs))
	if wrong.Load() > 0 {
		fmt.Fprintf(os.Stderr, "grpcpair: %d calls ended otherwise than expected\n", wrong.Load())
		return 1
	}
	return 0
}

// call makes call i of method on c.
func call(ctx context.Context, c *grpc.ClientConn, method string, i int) error {
	switch method {
	case check:
		svc := ""
		if i%len(kinds) == 1 {
			svc = "unknown"
		}
		_, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		return err
	case echoStream:
		s, err := c.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.CallContentSubtype("raw"))
		if err != nil {
			return err
		}
		in := []byte(fmt.Sprint("call ", i))
		if err := s.SendMsg(&in); err != nil {
			return err
		}
		if err := s.CloseSend(); err != nil {
			return err
		}
		for {
			var out []byte
			if err := s.RecvMsg(&out); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	}
	in, out := []byte(fmt.Sprint("call ", i)), new([]byte)
	return c.Invoke(ctx, method, &in, out, grpc.CallContentSubtype("raw"))
}

// watchOnce watches "" until its first message, then cancels the call.
func watchOnce(ctx context.Context, c *grpc.ClientConn) error {
	ctx, cancel := context.WithCancel(ctx)
	w, err := healthpb.NewHealthClient(c).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		cancel()
		return err
	}
	if _, err := w.Recv(); err != nil {
		cancel()
		return err
	}
	cancel()
	_, err = w.Recv()
	return err
}
