// SPDX-License-Identifier: MIT
/*
 * LD_PRELOAD fault injection for tests/integration/test_faultinject.py (issue 17).
 * Built at test time: cc -shared -fPIC -o faultinject.so faultinject.c -ldl
 *
 * BB_FI_SITES=FILE         write one line per allocation made directly by the main
 *                          executable (the CLI, which links the core): "INDEX ADDRESS"
 * BB_FI_MALLOC_FAIL=N      the Nth such allocation (1-based) returns NULL, ENOMEM
 * BB_FI_BPF_ERRNO=E        bpf() map reads (lookup, next key, batch lookup) fail with
 *                          errno E ...
 * BB_FI_BPF_AFTER=K        ... after the first K of them succeeded
 * BB_FI_MOUNT_ERRNO=E      mount(2) fails with errno E
 * BB_FI_ONLY=NAME          inject only in a process whose program name is NAME, so
 *                          a wrapper (valgrind's launcher script) is left alone
 *
 * Allocations from libraries (libbpf, libyaml, libc's own strdup) are not
 * counted: the sites under test are the project's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static uintptr_t exe_lo, exe_hi;
static long fail_at, counted, bpf_after = -1, bpf_reads;
static int bpf_errno, mount_errno;
static FILE *sites;
static int ready;

static int find_exe(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	/* the first entry is the main program */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		exe_lo = info->dlpi_addr + ph->p_vaddr;
		exe_hi = exe_lo + ph->p_memsz;
	}
	return 1;
}

__attribute__((constructor)) static void fi_init(void)
{
	const char *v;

	if ((v = getenv("BB_FI_ONLY")) && strcmp(v, program_invocation_short_name) != 0)
		return; /* not the program under test: nothing injected, nothing counted */
	dl_iterate_phdr(find_exe, NULL);
	if ((v = getenv("BB_FI_MALLOC_FAIL")))
		fail_at = atol(v);
	if ((v = getenv("BB_FI_BPF_ERRNO")))
		bpf_errno = atoi(v);
	if ((v = getenv("BB_FI_BPF_AFTER")))
		bpf_after = atol(v);
	if ((v = getenv("BB_FI_MOUNT_ERRNO")))
		mount_errno = atoi(v);
	if ((v = getenv("BB_FI_SITES"))) {
		ready = 0;
		sites = fopen(v, "we");
	}
	ready = 1;
}

__attribute__((destructor)) static void fi_fini(void)
{
	if (sites) {
		FILE *f = sites;

		sites = NULL;
		fclose(f);
	}
}

/* true: this allocation, made from CALLER, must fail */
static int should_fail(void *caller)
{
	uintptr_t a = (uintptr_t)caller;

	if (!ready || a < exe_lo || a >= exe_hi)
		return 0;
	counted++;
	if (sites) {
		FILE *f = sites;

		sites = NULL; /* fprintf may allocate */
		fprintf(f, "%ld %#lx\n", counted, (unsigned long)(a - exe_lo));
		sites = f;
	}
	if (counted == fail_at) {
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

void *malloc(size_t n)
{
	return should_fail(__builtin_return_address(0)) ? NULL : __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	return should_fail(__builtin_return_address(0)) ? NULL : __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	return should_fail(__builtin_return_address(0)) ? NULL : __libc_realloc(p, n);
}

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d;

	if (should_fail(__builtin_return_address(0)))
		return NULL;
	d = __libc_malloc(n);
	return d ? memcpy(d, s, n) : NULL;
}

/* libbpf calls syscall(__NR_bpf, cmd, attr, size) */
long syscall(long nr, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == __NR_bpf && bpf_errno &&
	    (a[0] == 1 /* MAP_LOOKUP_ELEM */ || a[0] == 4 /* MAP_GET_NEXT_KEY */ ||
	     a[0] == 24 /* MAP_LOOKUP_BATCH */ || a[0] == 25 /* LOOKUP_AND_DELETE_BATCH */)) {
		if (bpf_after >= 0 && bpf_reads++ >= bpf_after) {
			errno = bpf_errno;
			return -1;
		}
	}
	{
		long (*real)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");

		return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}

int mount(const char *src, const char *target, const char *type, unsigned long flags,
	  const void *data)
{
	int (*real)(const char *, const char *, const char *, unsigned long, const void *);

	if (mount_errno) {
		errno = mount_errno;
		return -1;
	}
	real = (int (*)(const char *, const char *, const char *, unsigned long,
			const void *))dlsym(RTLD_NEXT, "mount");
	return real(src, target, type, flags, data);
}
