#!/usr/bin/awk -f
# The table of `make kernel-matrix` from the guests' "KM|" lines (scripts/kernel-matrix-guest.sh),
# each prefixed with the kernel's name: one row per kernel, BTF source and hook set, then the
# per-request BPF cost and the dispatch floors of each hook kind.
BEGIN { FS = "|" }
$2 == "boot" && $4 ~ /^btf=yes/ { kprobes[$1] = $5; accel[$1] = $7 }
$2 == "insn" {
	# kernel|insn|mode|prog|insns|xlated|verified|section
	set = $8 ~ /^tp_btf/ ? "tp_btf" : $8 ~ /^raw_tp/ ? "raw_tp" : $8 ~ /^tracepoint/ ? "tracepoint" : "uprobe"
	ver[$1, $3, $4] = $7; inset[$1, $3, $4] = set; progs[$1, $3] = progs[$1, $3] " " $4
}
$2 == "insncheck" { insload[$1, $3] = $4 == "PASS" ? $5 " ms" : "FAIL" }
$2 == "dropin" {
	# kernel|dropin|mode|hook|used|transport|socktest|result|init_ms|events|secs
	k = $1 SUBSEP $3 SUBSEP $4; addrow(k)
	used[k] = $5; transport[k] = $6; socktest[k] = $7
	dropin[k] = $8 == "PASS" ? "PASS (" $10 " events)" : "FAIL"; init[k] = $9
}
$2 == "e2e" {
	# kernel|e2e|mode|hook|used|transport|socktest|result|detail
	k = $1 SUBSEP $3 SUBSEP $4; addrow(k)
	if (used[k] == "") { used[k] = $5; transport[k] = $6; socktest[k] = $7 }
	e2e[k] = $8 " (" $9 ")"
}
$2 == "bpfstats" {
	# kernel|bpfstats|mode|hook|prog|runs per request|ns per request
	k = $1 SUBSEP $3 SUBSEP $4; runs[k] = runs[k] sprintf(" %s %s×/%sns", $5, $6, $7); ns[k] += $7
}
$2 == "sysbench" && $4 ~ /ns\// {
	split($4, w, ": "); sub(/ .*/, "", w[2]); bench[$1, $3, w[1]] = w[2]; benchk[$1] = 1; benchcase[w[1]] = 1
}
function short(name) { sub(/^linux-image-/, "", name); sub(/_.*/, "", name); return name }
function addrow(k) { if (!(k in seen)) { seen[k] = 1; rows[++nrows] = k } }
# verified KERNEL MODE SET PORTABLE NOLOOP: "sum (max)" of the instructions the verifier processed for
# the set's syscall programs (with the socket test and the header scan this row loads) and the uprobes.
function verified(kernel, mode, set, portable, noloop,    n, p, i, sum, max, v, loop) {
	loop = !noloop && (kernel, mode, "http_loop_btf") in ver
	n = split(progs[kernel, mode], p, " ")
	for (i = 1; i <= n; i++) {
		if (inset[kernel, mode, p[i]] != set && inset[kernel, mode, p[i]] != "uprobe")
			continue
		if ((p[i] == "btf_sys_exit" && portable) || (p[i] == "btf_sys_exit_portable" && !portable))
			continue
		if ((p[i] == "up_update_conn_addr_rb") != (set == "tp_btf") && p[i] ~ /^up_update_conn_addr/)
			continue
		if ((p[i] ~ /^http_loop_/ && !loop) || (p[i] ~ /^http_head_/ && loop))
			continue
		v = ver[kernel, mode, p[i]]
		if (v == "-" || v == "") return "-"
		sum += v; if (v + 0 > max) max = v + 0
	}
	return sum ? sum " (" max ")" : "-"
}
END {
	fmt = "%-22s %-6s %-17s %-10s %-16s %-11s %-15s %-7s %-17s %s\n"
	printf fmt, "kernel", "BTF", "hook set", "used", "transport", "socket test", "verified (max)", "init ms", "drop-in", "end to end"
	printf fmt, "", "", "(forced)", "", "", "", "insns", "", "", ""
	for (r = 1; r <= nrows; r++) {
		split(rows[r], f, SUBSEP)
		set = used[rows[r]] != "" ? used[rows[r]] : f[3]
		hasfast = (f[1], f[2], "btf_sys_exit") in ver
		portable = f[3] ~ /portable/ || socktest[rows[r]] ~ /CO-RE/ || !hasfast
		printf fmt, short(f[1]), f[2] == "btf-sys" ? "kernel" : "file", f[3], used[rows[r]], transport[rows[r]],
			socktest[rows[r]] == "" ? "-" : socktest[rows[r]] ~ /BTF/ ? "fast" : "portable",
			verified(f[1], f[2], set, portable, f[3] ~ /byte-scan/), init[rows[r]] == "" ? "-" : init[rows[r]],
			dropin[rows[r]] == "" ? "-" : dropin[rows[r]], e2e[rows[r]] == "" ? "-" : e2e[rows[r]]
	}
	print ""
	print "BPF cost per HTTP request in the end-to-end runs (bpf_stats: program runs × and run time; curl and nginx, both ends):"
	for (r = 1; r <= nrows; r++)
		if (rows[r] in runs) {
			split(rows[r], f, SUBSEP)
			printf "  %-22s %-8s %-11s %6.0f ns:%s\n", short(f[1]), f[2], f[3], ns[rows[r]], runs[rows[r]]
		}
	print ""
	print "Dispatch floor of each hook kind, an empty program attached (bpf-sysbench, ns per syscall; fentry and kprobe on tcp_sendmsg):"
	for (k in benchk) {
		printf "  %s (%s, %s)\n", short(k), kprobes[k], accel[k]
		for (c in benchcase) {
			printf "    %-70s", c
			split("none tp_btf fentry kprobe", fl, " ")
			for (i = 1; i <= 4; i++) printf " %s %s", fl[i], (k, fl[i], c) in bench ? bench[k, fl[i], c] : "-"
			printf "\n"
		}
	}
}
