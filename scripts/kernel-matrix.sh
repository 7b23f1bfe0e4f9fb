#!/usr/bin/env bash
# make kernel-matrix: boots other kernels under qemu (KVM, else TCG) and runs our capture tests in
# them — insncheck, the C drop-in test with every hook set, bin/netobserver end to end, with the
# kernel's BTF and with a BTF file extracted from its image — then prints one table. Any failure on
# any kernel fails the target. Not part of `make test` (it takes minutes).
#
# Kernels: Debian's packages named by KM_KERNELS (meta packages, resolved to today's image), fetched
# with `apt-get download` and unpacked under build/kernel-matrix (nothing is installed into /boot),
# plus this host's own kernel when its image is readable in /boot.
#
# Environment: KM_KERNELS (default "linux-image-amd64 linux-image-6.12-amd64": 6.1 and 6.12),
# KM_TIMEOUT (seconds per guest, default 900), KM_REQUESTS (HTTP requests per end-to-end run,
# default 200), KM_SYSBENCH_ITERS (default 1000000), KM_MEM (MiB per guest, default 1536), BIN.
# One guest at a time, 2 vCPUs.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
CACHE=build/kernel-matrix
KM_KERNELS=${KM_KERNELS:-linux-image-amd64 linux-image-6.12-amd64}
KM_TIMEOUT=${KM_TIMEOUT:-900}
KM_REQUESTS=${KM_REQUESTS:-200}
KM_SYSBENCH_ITERS=${KM_SYSBENCH_ITERS:-1000000}
KM_MEM=${KM_MEM:-1536}
# Programs the guest runs besides busybox: the drop-in test's tools and servers, bpftool for bpf_stats.
GUEST_TOOLS=(ip ss nginx curl dnsmasq dig bpftool)
OURS=(netobserver libebpf.so bpf-dropin bpf-insncheck bpf-sysbench bpf-floor)

log() { echo "kernel-matrix: $*"; }
die() {
	echo "kernel-matrix: FAIL: $*" >&2
	exit 1
}

bash scripts/deps.sh --kernel-matrix
for f in "${OURS[@]}"; do
	[ -e "$BIN/$f" ] || die "$BIN/$f is missing (make kernel-matrix builds it)"
done
mkdir -p "$CACHE"/deb "$CACHE"/root "$CACHE"/initrd "$CACHE"/logs
CACHE=$(realpath "$CACHE")
BIN=$(realpath "$BIN")

ACCEL=(-accel tcg -cpu max)
ACCEL_NOTE="TCG (no usable /dev/kvm): slow, each guest takes many minutes"
if [ -c /dev/kvm ] && { exec 3<>/dev/kvm; } 2>/dev/null; then
	exec 3>&-
	ACCEL=(-accel kvm -cpu host,-arch-capabilities)
	ACCEL_NOTE=KVM
fi

# ---- kernels ------------------------------------------------------------------------------------

# resolve META: the linux-image package a Debian meta package depends on today.
resolve() {
	apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }'
}

kernels=() # entries "name|vmlinuz|modules root|kernel release"
apt_updated=0
for meta in $KM_KERNELS; do
	pkg=$(resolve "$meta")
	if [ -z "$pkg" ] && [ $apt_updated = 0 ]; then
		apt-get update -q >/dev/null
		apt_updated=1
		pkg=$(resolve "$meta")
	fi
	[ -n "$pkg" ] || die "apt knows no kernel image behind $meta"
	root=$CACHE/root/$pkg
	if [ ! -e "$root/.unpacked" ]; then
		rm -rf "$root"
		deb=$(ls "$CACHE"/deb/"${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
		if [ -z "$deb" ]; then
			log "downloading $pkg"
			(cd "$CACHE/deb" && apt-get download -q "$pkg" 2>&1 | grep -v 'unsandboxed' || true)
			deb=$(ls "$CACHE"/deb/"${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
			[ -n "$deb" ] || die "apt-get download $pkg produced no .deb"
		fi
		mkdir -p "$root"
		dpkg-deb -x "$deb" "$root"
		touch "$root/.unpacked"
	fi
	kver=$(ls "$root/lib/modules")
	kernels+=("$pkg|$root/boot/vmlinuz-$kver|$root|$kver")
done
host=$(uname -r)
if [ -r "/boot/vmlinuz-$host" ] && [ -d "/lib/modules/$host" ]; then
	kernels+=("host $host|/boot/vmlinuz-$host|/|$host")
else
	HOST_NOTE="host kernel $host not booted: no readable /boot/vmlinuz-$host$([ -d "/lib/modules/$host" ] || echo " and no /lib/modules/$host") (only its BTF, /sys/kernel/btf/vmlinux, is here)"
	log "$HOST_NOTE"
fi

# An open /dev/kvm is not enough: a host whose KVM is kvm-pvm (a paravirtual flavour that runs only
# kernels built as PVM guests) hangs an ordinary kernel right after its real-mode setup. One short
# boot of the first kernel decides, by whether its first printk line reaches the console.
if [ "${ACCEL[1]}" = kvm ]; then
	IFS='|' read -r _ vmlinuz _ _ <<<"${kernels[0]}"
	if ! timeout -k 5 30 qemu-system-x86_64 "${ACCEL[@]}" -smp 1 -m 256 -nodefaults -display none -no-reboot \
		-serial stdio -kernel "$vmlinuz" -append "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1" \
		</dev/null 2>&1 | grep -aq -m 1 'Linux version'; then
		pvm=$(dmesg 2>/dev/null | grep -m 1 -o 'kvm-pvm: loaded' || true)
		ACCEL=(-accel tcg -cpu max)
		ACCEL_NOTE="TCG: /dev/kvm opens but a kernel booted with KVM printed nothing in 30 s${pvm:+ (host dmesg: \"$pvm\": this KVM runs only PVM guest kernels)}; slow, each guest takes many minutes"
	fi
fi
log "accelerator: $ACCEL_NOTE"
KM_TEST_TIMEOUT=300 # per test inside the guest
if [ "${ACCEL[1]}" != kvm ]; then
	KM_TIMEOUT=${KM_TIMEOUT_TCG:-3600}
	KM_TEST_TIMEOUT=1200
	KM_SYSBENCH_ITERS=$((KM_SYSBENCH_ITERS / 5))
fi

# extract_vmlinux VMLINUZ OUT: the ELF vmlinux inside a bzImage (the kernel's scripts/extract-vmlinux:
# find a compressed stream's magic, decompress from there, keep the first result that is an ELF).
extract_vmlinux() {
	local img=$1 out=$2 magic cmd pos
	while read -r magic cmd; do
		for pos in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1 | head -n 5); do
			tail -c +$((pos + 1)) "$img" | $cmd >"$out" 2>/dev/null || true
			if readelf -h "$out" >/dev/null 2>&1; then
				return 0
			fi
		done
	done <<-'EOF'
		\x28\xb5\x2f\xfd zstd -dcq
		\xfd\x37\x7a\x58\x5a\x00 xz -dcq
		\x1f\x8b\x08 gzip -dcq
	EOF
	return 1
}

# ---- the initramfs ---------------------------------------------------------------------------------

# copy_with_libs FILE DESTROOT [DESTPATH]: FILE and every shared library ldd names for it.
copy_with_libs() {
	local file=$1 dest=$2 at=${3:-$1} lib
	mkdir -p "$dest$(dirname "$at")"
	cp -L "$file" "$dest$at"
	for lib in $(ldd "$file" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$dest$lib" ] && continue
		mkdir -p "$dest$(dirname "$lib")"
		cp -L "$lib" "$dest$lib"
	done
}

common=$CACHE/initrd/common
rm -rf "$common" && mkdir -p "$common"/{bin,km/bin,etc,var/log/nginx,var/lib/nginx,usr/share/nginx}
cp /bin/busybox "$common/bin/busybox"
# /bin/sh is dash, not busybox: Debian's static busybox shell runs its own applets before anything in
# PATH, and its `ip` has no netns.
copy_with_libs /bin/dash "$common" /bin/sh
for t in "${GUEST_TOOLS[@]}"; do
	p=$(command -v "$t") || die "$t is not installed (scripts/deps.sh installs it)"
	copy_with_libs "$(realpath "$p")" "$common" "$p"
done
for f in "${OURS[@]}"; do
	copy_with_libs "$BIN/$f" "$common" "/km/bin/$f"
done
cp scripts/kernel-matrix-guest.sh "$common/init"
chmod +x "$common/init"
ln -s /run "$common/var/run"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nwww-data:x:33:33::/var/www:/bin/false\n' >"$common/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\nwww-data:x:33:\n' >"$common/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$common/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$common/etc/hosts"
printf 'nameserver 127.0.0.1\n' >"$common/etc/resolv.conf"
(cd "$common" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$CACHE/initrd/common.cpio.gz"

# kernel_initrd NAME ROOT KVER VMLINUZ: the kernel's part (veth and the modules it needs, the BTF
# extracted from its image, the parameters) appended to the common archive.
kernel_initrd() {
	local name=$1 root=$2 kver=$3 dir=$CACHE/initrd/$1 m
	rm -rf "$dir" && mkdir -p "$dir/km/modules" "$dir/km/btf"
	: >"$dir/km/modules/order"
	if [ "$root" != / ]; then
		depmod -b "$root" "$kver"
	fi
	for m in $(modprobe -d "$root" -S "$kver" --show-depends veth 2>/dev/null | awk '$1 == "insmod" { print $2 }'); do
		base=$(basename "$m")
		base=${base%.xz}
		base=${base%.zst}
		case $m in
		*.xz) xz -dc "$m" >"$dir/km/modules/$base" ;;
		*.zst) zstd -dcq "$m" >"$dir/km/modules/$base" ;;
		*) cp "$m" "$dir/km/modules/$base" ;;
		esac
		echo "$base" >>"$dir/km/modules/order"
	done
	extract_vmlinux "$4" "$CACHE/initrd/$name.vmlinux" || die "no ELF vmlinux found inside $4"
	objcopy -O binary --only-section=.BTF "$CACHE/initrd/$name.vmlinux" "$dir/km/btf/vmlinux.btf"
	rm -f "$CACHE/initrd/$name.vmlinux"
	[ -s "$dir/km/btf/vmlinux.btf" ] || die "the vmlinux inside $4 has no .BTF section"
	bpftool btf dump file "$dir/km/btf/vmlinux.btf" format raw >/dev/null || die "bpftool cannot read the BTF of $4"
	printf 'KM_KERNEL=%s\nKM_REQUESTS=%s\nKM_SYSBENCH_ITERS=%s\nKM_TEST_TIMEOUT=%s\nKM_ACCEL=%s\n' "$name" \
		"$KM_REQUESTS" "$KM_SYSBENCH_ITERS" "$KM_TEST_TIMEOUT" "${ACCEL[1]}" >"$dir/km/params"
	(cd "$dir" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$dir.cpio.gz"
	cat "$CACHE/initrd/common.cpio.gz" "$dir.cpio.gz" >"$CACHE/initrd/$name.img"
}

# ---- boot each kernel, one at a time -------------------------------------------------------------

failed=()
results=$CACHE/logs/results.txt
: >"$results"
for k in "${kernels[@]}"; do
	IFS='|' read -r name vmlinuz root kver <<<"$k"
	safe=${name// /-}
	kernel_initrd "$safe" "$root" "$kver" "$vmlinuz"
	console=$CACHE/logs/$safe.console
	log "booting $name ($kver): ${ACCEL[1]}, 2 vCPUs, ${KM_MEM} MiB, at most ${KM_TIMEOUT} s; console in $console"
	t0=$(date +%s)
	{
		rc=0
		timeout -k 10 "$KM_TIMEOUT" qemu-system-x86_64 "${ACCEL[@]}" -smp 2 -m "$KM_MEM" -nodefaults \
			-display none -no-reboot -serial stdio -kernel "$vmlinuz" -initrd "$CACHE/initrd/$safe.img" \
			-append "console=ttyS0 loglevel=5 panic=-1 rdinit=/init" </dev/null 2>&1 || rc=$?
		echo $rc >"$console.rc"
	} | sed -u 's/\r$//' | tee "$console" | { grep --line-buffered -E '^KM\|(boot|dropin|e2e|insncheck|sysbench.*FAIL)|^  \|' || true; } |
		sed -u 's/^/  /'
	rc=$(cat "$console.rc")
	log "$name: guest ran $(($(date +%s) - t0)) s"
	grep '^KM|' "$console" | sed "s/^KM|/$safe|/" >>"$results"
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		failed+=("$name: the guest did not finish within $KM_TIMEOUT s")
	elif ! grep -q '^KM|done' "$console"; then
		failed+=("$name: the guest stopped before the end (qemu exit $rc; see $console)")
	fi
	# A kernel that complained while our programs ran failed, whatever the tests said (loglevel=5
	# puts the complaint's stacks on the console too).
	if grep -qE 'soft lockup|hard LOCKUP|rcu_preempt detected stalls|BUG: |Oops|general protection' "$console"; then
		failed+=("$name: the kernel complained: $(grep -m1 -E 'soft lockup|hard LOCKUP|rcu_preempt detected stalls|BUG: |Oops|general protection' "$console")")
	fi
	if grep -E '^KM\|(dropin|e2e|insncheck)\|' "$console" | grep -q '|FAIL|'; then
		failed+=("$name: $(grep -cE '^KM\|(dropin|e2e|insncheck)\|.*\|FAIL\|' "$console") test(s) failed")
	fi
	# Every set the kernel offers must have run: 5 drop-in runs (tp_btf also with the portable
	# socket test and with the byte-loop header scan) and 4 end-to-end runs with its BTF, 2 and 1
	# with the BTF file.
	n=$(grep -cE '^KM\|(dropin|e2e)\|' "$console" || true)
	[ "$n" = 12 ] || failed+=("$name: $n of 12 drop-in and end-to-end runs reported")
done

# ---- the table ---------------------------------------------------------------------------------

scripts/kernel-matrix-table.awk "$results"
[ -n "${HOST_NOTE:-}" ] && echo "note: $HOST_NOTE"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'kernel-matrix: FAIL: %s\n' "${failed[@]}" >&2
	exit 1
fi
log "PASS: every kernel, every hook set"
