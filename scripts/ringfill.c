// ringfill: how full the observer's BPF rings get, and whether the observer was running meanwhile.
// Every PERIOD_US it reads each BPF ring buffer's producer and consumer positions (mapped
// read-only by map id, as bpftool finds maps: the observer is not touched); every WINDOW_MS it
// prints the highest fill of each ring in % of its size, the growth of ring_lost (lost
// ctrl/data/stats/proc events) and the CPU time the netobserver process's threads ran and waited
// runnable (/proc/PID/task/*/schedstat, ms). It follows the observer across restarts. Used to find
// why events were lost while 100 000 connections opened (README, Performance):
//
//	make build     # bin/ringfill
//	bin/ringfill [PERIOD_US=2000] [WINDOW_MS=100] > fill.log &   # root, beside the benchmark
#include <bpf/bpf.h>
#include <dirent.h>
#include <stdbool.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct ring {
	int fd;
	char name[16];
	volatile const unsigned long *cons, *prod;
	unsigned long size, maxfill;
};

static struct ring rings[64];
static int nrings, lostfd = -1, obspid;
static unsigned lostid;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int find_observer(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int pid = 0;

	while (d && (e = readdir(d))) {
		char path[300], comm[64] = "";
		int n = atoi(e->d_name);
		FILE *f;

		if (n <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", n);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, "netobserver\n"))
			pid = n;
		fclose(f);
	}
	if (d)
		closedir(d);
	return pid;
}

// The observer's threads' run and run-queue wait time, ns.
static void sched_times(unsigned long long *run, unsigned long long *wait)
{
	char path[300];
	struct dirent *e;
	DIR *d;

	*run = *wait = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", obspid);
	if (!obspid || !(d = opendir(path)))
		return;
	while ((e = readdir(d))) {
		unsigned long long r, w;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", obspid, e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fscanf(f, "%llu %llu", &r, &w) == 2)
			*run += r, *wait += w;
		fclose(f);
	}
	closedir(d);
}

// Maps every ring buffer and finds ring_lost; returns the number of ring buffers and sets *lost_id.
static int scan(bool map_them, unsigned *lost_id)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned id = 0;
	int n = 0;

	*lost_id = 0;
	if (map_them) {
		for (int i = 0; i < nrings; i++) {
			munmap((void *)rings[i].cons, page);
			munmap((void *)rings[i].prod, page);
			close(rings[i].fd);
		}
		nrings = 0;
		if (lostfd >= 0)
			close(lostfd);
		lostfd = -1;
	}
	while (!bpf_map_get_next_id(id, &id)) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_map_get_fd_by_id(id);
		bool keep = false;

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			close(fd);
			continue;
		}
		if (info.type == BPF_MAP_TYPE_ARRAY && !strcmp(info.name, "ring_lost")) {
			*lost_id = id;
			if (map_them)
				lostfd = fd, keep = true;
		} else if (info.type == BPF_MAP_TYPE_RINGBUF && n < 64) {
			n++;
			if (map_them) {
				struct ring *r = &rings[nrings];
				void *c = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
				void *p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, page);

				if (c != MAP_FAILED && p != MAP_FAILED) {
					r->fd = fd, r->cons = c, r->prod = p, r->size = info.max_entries, r->maxfill = 0;
					snprintf(r->name, sizeof(r->name), "%s", info.name);
					nrings++, keep = true;
				}
			}
		}
		if (!keep)
			close(fd);
	}
	return n;
}

int main(int argc, char **argv)
{
	int period_us = argc > 1 ? atoi(argv[1]) : 2000, window_ms = argc > 2 ? atoi(argv[2]) : 100;
	double last = now(), last_scan = 0;
	unsigned long prev_lost[4] = { 0 };
	unsigned long long prev_run = 0, prev_wait = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		double t = now();

		if (t - last_scan > 1.0) {
			unsigned id;
			int n = scan(false, &id);

			if (id != lostid || n != nrings) {
				scan(true, &lostid);
				obspid = find_observer();
				sched_times(&prev_run, &prev_wait);
				memset(prev_lost, 0, sizeof(prev_lost));
				for (__u32 k = 0; lostfd >= 0 && k < 4; k++)
					bpf_map_lookup_elem(lostfd, &k, &prev_lost[k]);
				printf("%.3f rings %d ring_lost %s observer pid %d\n", t, nrings, lostfd >= 0 ? "found" : "absent", obspid);
			}
			last_scan = t;
		}
		for (int i = 0; i < nrings; i++) {
			unsigned long fill = *rings[i].prod - *rings[i].cons;
			if (fill > rings[i].maxfill)
				rings[i].maxfill = fill;
		}
		if ((t - last) * 1000 >= window_ms && nrings) {
			unsigned long lost[4] = { 0 };
			unsigned long long run, wait;

			for (__u32 k = 0; lostfd >= 0 && k < 4; k++)
				bpf_map_lookup_elem(lostfd, &k, &lost[k]);
			printf("%.3f", t);
			for (int i = 0; i < nrings; i++) {
				printf(" %s%d=%lu%%", rings[i].name, i, rings[i].maxfill * 100 / rings[i].size);
				rings[i].maxfill = 0;
			}
			sched_times(&run, &wait);
			printf(" lost=%lu/%lu/%lu/%lu run_ms=%llu wait_ms=%llu\n", lost[0] - prev_lost[0], lost[1] - prev_lost[1],
			       lost[2] - prev_lost[2], lost[3] - prev_lost[3], run >= prev_run ? (run - prev_run) / 1000000 : 0,
			       wait >= prev_wait ? (wait - prev_wait) / 1000000 : 0);
			memcpy(prev_lost, lost, sizeof(lost));
			prev_run = run, prev_wait = wait;
			last = t;
		}
		usleep(period_us);
	}
}
