# packaging/image/image.mk — the container image and the Kubernetes manifests. Included by the
# top-level Makefile; image-test and kubernetes-test are part of `make test`.
#
#   make image            bin/netobserver-image.tar (docker save of $(IMAGE)), built from bin/ with
#                         a real dockerd: $DOCKER_HOST's, the local one, or a private one started
#                         for the build (packaging/image/build.sh)
#   make image-test       the image, run with the host's PID namespace, records a host curl (root;
#                         a live observer: run it under the BPF lock)
#   make kubernetes-test  packaging/kubernetes/*.yaml decode strictly into k8s.io/api types (a
#                         module of its own) and hold the DaemonSet's capabilities, mounts, probes
IMAGE ?= netobserver/netobserver:latest
.PHONY: image image-test kubernetes-test

image: $(BIN)/netobserver-image.tar

$(BIN)/netobserver-image.tar: $(BIN)/netobserver $(BIN)/libebpf.so packaging/image/Dockerfile packaging/image/build.sh packaging/pipeline.yaml
	packaging/image/build.sh $(BIN) $(IMAGE) $@

image-test: $(BIN)/netobserver-image.tar
	$(GO) vet -tags image ./packaging/image
	NETOBSERVER_IMAGE=$(abspath $(BIN))/netobserver-image.tar $(GO) test -tags image -count=1 ./packaging/image

kubernetes-test:
	cd packaging/kubernetes && $(GO) vet ./... && $(GO) test -count=1 ./...
