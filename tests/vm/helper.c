// SPDX-License-Identifier: MIT
/*
 * bbvm-helper: the controlled workloads of the kernel matrix (tests/vm/run).
 * Built static at run time, so it runs in the busybox guest and on the host.
 *
 *   bbvm-helper marker N          N calls of ioprio_get(0xbad, 0): each fails with EINVAL
 *   bbvm-helper read FILE N       open FILE once, then N pread()s of one byte at offset 0
 *   bbvm-helper hog               touch memory 1 MiB at a time until the OOM killer strikes
 *   bbvm-helper panic             crash the kernel (sysrq 'c'), for the runner's self-test
 *   bbvm-helper as-nobody CAPS PROG ARGS...
 *                                 exec PROG as uid/gid 65534 holding exactly CAPS (a comma
 *                                 list of bpf, perfmon, dac_read_search, syslog, sys_admin, sys_resource;
 *                                 "none"), permitted, effective, inheritable and ambient
 *
 * Exit status 0 when the workload ran as described, 1 otherwise (message on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#define MARKER_NR 252 /* x86_64 ioprio_get */
#define MARKER_WHICH 0xbad

static int parse_count(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || end == s || *end || *out < 0) {
		fprintf(stderr, "bbvm-helper: expected a count, got \"%s\"\n", s);
		return -1;
	}
	return 0;
}

static int marker(long n)
{
	long i;

	for (i = 0; i < n; i++) {
		long rc = syscall(MARKER_NR, MARKER_WHICH, 0);

		if (rc != -1 || errno != EINVAL) {
			fprintf(stderr,
				"bbvm-helper: marker call %ld returned %ld errno %d, expected "
				"EINVAL\n",
				i, rc, errno);
			return 1;
		}
	}
	return 0;
}

static int read_file(const char *path, long n)
{
	char c;
	long i;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "bbvm-helper: %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (pread(fd, &c, 1, 0) != 1) {
			fprintf(stderr, "bbvm-helper: %s: read %ld failed: %s\n", path, i,
				strerror(errno));
			close(fd);
			return 1;
		}
	}
	close(fd);
	return 0;
}

static void __attribute__((noreturn)) hog(void)
{
	const size_t chunk = 1 << 20;

	for (;;) {
		char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);

		if (p == MAP_FAILED) {
			/* keep what we have and wait for the OOM killer */
			pause();
			continue;
		}
		memset(p, 0x5a, chunk);
	}
}

static int panic_kernel(void)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);

	if (fd < 0 || write(fd, "c", 1) != 1) {
		fprintf(stderr, "bbvm-helper: /proc/sysrq-trigger: %s\n", strerror(errno));
		return 1;
	}
	return 1; /* not reached when the kernel crashed */
}

static const struct {
	const char *name;
	int cap;
} cap_names[] = {
	{ "dac_read_search", 2 }, { "sys_admin", 21 }, { "syslog", 34 },
	{ "sys_resource", 24 },	  { "perfmon", 38 },   { "bpf", 39 },
};

/* What setpriv --reuid --inh-caps --ambient-caps does, for busybox guests
 * (busybox's setpriv cannot change the uid). */
static int as_nobody(const char *caps, char **argv)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	char list[256], *tok, *save = NULL;
	uint64_t set = 0;
	size_t i;

	snprintf(list, sizeof(list), "%s", caps);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "none"))
			continue;
		for (i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
			if (!strcmp(tok, cap_names[i].name))
				break;
		if (i == sizeof(cap_names) / sizeof(cap_names[0])) {
			fprintf(stderr, "bbvm-helper: unknown capability \"%s\"\n", tok);
			return 2;
		}
		set |= 1ULL << cap_names[i].cap;
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) || setgid(65534) ||
	    setuid(65534)) {
		fprintf(stderr, "bbvm-helper: cannot become uid 65534: %s\n", strerror(errno));
		return 1;
	}
	memset(data, 0, sizeof(data));
	for (i = 0; i < 2; i++)
		data[i].permitted = data[i].effective = data[i].inheritable =
			(uint32_t)(set >> (32 * i));
	if (syscall(SYS_capset, &hdr, data)) {
		fprintf(stderr, "bbvm-helper: capset: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < 64; i++)
		if ((set >> i & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0)) {
			fprintf(stderr, "bbvm-helper: ambient capability %zu: %s\n", i,
				strerror(errno));
			return 1;
		}
	execv(argv[0], argv);
	fprintf(stderr, "bbvm-helper: %s: %s\n", argv[0], strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	long n;

	if (argc == 3 && !strcmp(argv[1], "marker"))
		return parse_count(argv[2], &n) ? 2 : marker(n);
	if (argc == 4 && !strcmp(argv[1], "read"))
		return parse_count(argv[3], &n) ? 2 : read_file(argv[2], n);
	if (argc == 2 && !strcmp(argv[1], "hog"))
		hog();
	if (argc == 2 && !strcmp(argv[1], "panic"))
		return panic_kernel();
	if (argc >= 4 && !strcmp(argv[1], "as-nobody"))
		return as_nobody(argv[2], argv + 3);
	fprintf(stderr, "usage: bbvm-helper marker N | read FILE N | hog | panic | "
			"as-nobody CAPS PROG ARGS...\n");
	return 2;
}
