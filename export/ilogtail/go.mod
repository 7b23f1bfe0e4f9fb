// The iLogtail plugin adapter: its own module, so the main module never depends on
// github.com/alibaba/ilogtail/pkg. See README.md for how it is checked here and built into iLogtail.
module github.com/netobserver/netobserver/export/ilogtail

go 1.24.0

require (
	// v0.0.0, as iLogtail's own modules require it: an iLogtail build replaces
	// github.com/alibaba/ilogtail/pkg with its ./pkg at every version; `make plugin-check` puts
	// ../shared/ilogtail/pkg in its place (a go.work, not a replace here).
	github.com/alibaba/ilogtail/pkg v0.0.0
	// A real iLogtail build needs a tagged version here (see README.md, "Releasing"): the replace
	// below only applies when this module is the main module, as in local development.
	github.com/netobserver/netobserver v0.0.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.3 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/arch v0.24.0 // indirect
	golang.org/x/net v0.49.0 // indirect
	golang.org/x/sys v0.41.0 // indirect
	golang.org/x/text v0.34.0 // indirect
	google.golang.org/genproto v0.0.0-20230306155012-7f2fa6fef1f4 // indirect
	google.golang.org/grpc v1.55.0 // indirect
	google.golang.org/protobuf v1.31.0 // indirect
)

replace github.com/netobserver/netobserver => ../..
