#!/usr/bin/env bash
# make plugin-ilogtail: builds the plugin into a copy of iLogtail's source tree the way an iLogtail
# user does (README.md, "Building it into iLogtail") and tests it there.
#
#   plugin-ilogtail.sh CHECKOUT ILOGTAIL_SRC BIN
#
# 1. copies ILOGTAIL_SRC (../shared/ilogtail: iLogtail's go.mod, pkg/, builder) to a temporary
#    directory;
# 2. writes external_plugins.yml from the README's example, plus `path:` and a replace so that the
#    modules come from CHECKOUT instead of the module proxy (they are not published there);
# 3. runs iLogtail's builder as scripts/import_plugins.sh runs it, with only that config (the copy
#    holds none of iLogtail's own plugins);
# 4. go build and go vet of plugins/all;
# 5. lists iLogtail's full build list (`go list -m all`) without and with the plugin, and runs
#    testdata/intree inside the tree: records through iLogtail's pipeline API against the binary's
#    golden records, and the go.mod changes against README.md's table.
set -euo pipefail

checkout=$(cd "$1" && pwd)
src=$2
bin=$(cd "$3" && pwd)
readme=$checkout/export/ilogtail/README.md
[ -f "$src/go.mod" ] && [ -f "$src/scripts/import_plugins.sh" ] ||
	{ echo "$src: iLogtail's source (go.mod, scripts/import_plugins.sh) is missing: the checkout needs ../shared/ilogtail beside it" >&2; exit 1; }
[ -f "$bin/libebpf-replay.so" ] || { echo "$bin/libebpf-replay.so is missing: make build" >&2; exit 1; }

work=$(mktemp -d /tmp/plugin-ilogtail.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
tree=$work/ilogtail
cp -r "$src" "$tree"
chmod -R u+w "$tree"
cd "$tree"

# The README's external_plugins.yml, verbatim, then what makes it use this checkout.
awk '/^```yaml external_plugins.yml/ {on = 1; next} on && /^```/ {exit} on' "$readme" >external_plugins.yml
grep -q 'gomod: github.com/netobserver/netobserver/export/ilogtail ' external_plugins.yml ||
	{ echo "$readme: no \`\`\`yaml external_plugins.yml block naming the plugin's module" >&2; exit 1; }
plugin_version=$(awk '/gomod: github.com\/netobserver\/netobserver\/export\/ilogtail / {print $4}' external_plugins.yml)
sed -i "/gomod: github.com\/netobserver\/netobserver\/export\/ilogtail /a\\      path: $checkout/export/ilogtail" external_plugins.yml
cat >>external_plugins.yml <<EOF
project:
  replaces:
    - github.com/netobserver/netobserver => $checkout
EOF
echo "== external_plugins.yml"
cat external_plugins.yml

# iLogtail's full build list before: the bound the README states is about a real iLogtail tree,
# whose go.mod this copy has unchanged (its plugins' sources are not here, so tidy would drop what
# only they need; `go list -m all` does not).
cp go.mod "$work/go.mod.before"
cp go.mod "$work/full.mod"
cp go.sum "$work/full.sum"
list_format='{{.Path}} {{if .Main}}{{.GoVersion}}{{else}}{{.Version}} {{.GoVersion}}{{end}}'
go list -mod=mod -modfile="$work/full.mod" -m -f "$list_format" all >"$work/list.before"
cp "$src/go.mod" "$work/full.mod"
go mod edit -modfile="$work/full.mod" \
	-require="github.com/netobserver/netobserver/export/ilogtail@$plugin_version" \
	-require="github.com/netobserver/netobserver@v0.0.0" \
	-replace="github.com/netobserver/netobserver/export/ilogtail@$plugin_version=$checkout/export/ilogtail" \
	-replace="github.com/netobserver/netobserver=$checkout"
go list -mod=mod -modfile="$work/full.mod" -m -f "$list_format" all >"$work/list.after"

echo "== iLogtail's builder (scripts/import_plugins.sh)"
bash scripts/import_plugins.sh external_plugins.yml go.mod "$tree" >"$work/builder.log" 2>&1 ||
	{ cat "$work/builder.log"; exit 1; }
grep -v '^generated gomod file content:' "$work/builder.log" | sed -n '/^generate file/p;/finished/p'
echo "== plugins/all (generated)"
cat plugins/all/all.go | grep import
echo "== go mod diff (builder)"
diff -u "$work/go.mod.before" go.mod | grep '^[-+]' | grep -v '^[-+][-+]' | grep -E '^[-+](go |\s)' | grep -vE '^-\s' || true
echo "   ($(diff "$work/go.mod.before" go.mod | grep -c '^<' || true) lines removed: requirements only iLogtail's own plugins use, not in this copy)"

echo "== go build / go vet ./plugins/all"
go build ./plugins/all
go vet ./plugins/all

echo "== test in the tree"
mkdir -p test/netobserver "$work/lib"
cp "$checkout"/export/ilogtail/testdata/intree/*.go test/netobserver/
# Installed as a user installs libebpf.so: found by the dynamic loader.
cp "$bin/libebpf-replay.so" "$work/lib/libebpf.so"
go vet ./test/netobserver
LD_LIBRARY_PATH=$work/lib \
	NETOBSERVER_LIBRARY=$work/lib/libebpf.so \
	NETOBSERVER_REPLAY_TRACE=$checkout/testdata/golden/all-protocols.trace \
	NETOBSERVER_REPLAY_STUBS=$work/stubs.log \
	NETOBSERVER_GOLDEN=$checkout/testdata/golden/tags-caps.golden \
	NETOBSERVER_README=$readme \
	NETOBSERVER_GOMOD_BEFORE=$work/go.mod.before \
	NETOBSERVER_GOMOD_AFTER=$tree/go.mod \
	NETOBSERVER_LIST_BEFORE=$work/list.before \
	NETOBSERVER_LIST_AFTER=$work/list.after \
	go test -count=1 -v ./test/netobserver
