/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <net/if.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>

#include "cgroups.h"
#include "loader.h"
#include "objcheck.h"
#include "privilege.h"
#include "log.h"
#include "perfsink.h"
#include "reader.h"
#include "trust.h"

#define REASON_MAX 384

#define TRACEFS "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"

/* snprintf that may truncate on purpose (reasons and paths are best effort). */
static void __attribute__((format(printf, 3, 4))) fmt(char *out, size_t len, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(out, len, f, ap);
	va_end(ap);
}

/* ---- errno names -------------------------------------------------------- */

static const struct {
	int err;
	const char *name;
} errno_names[] = {
	{ EPERM, "EPERM" },
	{ ENOENT, "ENOENT" },
	{ ESRCH, "ESRCH" },
	{ EINTR, "EINTR" },
	{ EIO, "EIO" },
	{ ENXIO, "ENXIO" },
	{ E2BIG, "E2BIG" },
	{ ENOEXEC, "ENOEXEC" },
	{ EBADF, "EBADF" },
	{ EAGAIN, "EAGAIN" },
	{ ENOMEM, "ENOMEM" },
	{ EACCES, "EACCES" },
	{ EFAULT, "EFAULT" },
	{ EBUSY, "EBUSY" },
	{ EEXIST, "EEXIST" },
	{ ENODEV, "ENODEV" },
	{ ENOTDIR, "ENOTDIR" },
	{ EISDIR, "EISDIR" },
	{ EINVAL, "EINVAL" },
	{ EMFILE, "EMFILE" },
	{ ENOSPC, "ENOSPC" },
	{ ERANGE, "ERANGE" },
	{ ENOSYS, "ENOSYS" },
	{ ELOOP, "ELOOP" },
	{ ENOTSUP, "ENOTSUP" },
	{ EPROTO, "EPROTO" },
	{ ETIMEDOUT, "ETIMEDOUT" },
	{ ENAMETOOLONG, "ENAMETOOLONG" },
	{ ESTALE, "ESTALE" },
	{ EBADMSG, "EBADMSG" },
	{ 524, "ENOTSUPP" }, /* kernel-internal "not supported", seen from BPF */
};

static const char *errno_name(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
		if (errno_names[i].err == err)
			return errno_names[i].name;
	}
	return "E?";
}

static const char *errno_text(int err)
{
	if (err < 0)
		err = -err;
	if (err == 524)
		return "Operation not supported by this kernel";
	return bb_strerror(err);
}

/* ---- libbpf messages -> bb_log ---------------------------------------------- */

/* What the current thread's libbpf load said about a failing program. */
struct load_capture {
	char prog[128];			/* first program a warning named */
	char msg[REASON_MAX];		/* that warning, one line */
	char verifier_tail[REASON_MAX]; /* last line of its verifier log */
};

static __thread struct load_capture *tls_capture;
static __thread bool tls_libbpf_debug;
/* While an object is opened: libbpf's last warning, which names the real cause. */
static __thread char *tls_last_warning;

static void capture_warning(const char *line)
{
	struct load_capture *c = tls_capture;
	const char *p, *q;

	if (!c || c->prog[0])
		return;
	p = strstr(line, "prog '");
	if (!p)
		return;
	p += 6;
	q = strchr(p, '\'');
	if (!q || (size_t)(q - p) >= sizeof(c->prog) || q == p)
		return;
	memcpy(c->prog, p, q - p);
	c->prog[q - p] = '\0';
	snprintf(c->msg, sizeof(c->msg), "%s", line);
}

/* The verifier's closing statistics say nothing about what went wrong. */
static bool verifier_stats_line(const char *line)
{
	return strncmp(line, "processed ", 10) == 0 ||
	       strncmp(line, "verification time", 17) == 0 || strncmp(line, "stack depth", 11) == 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum bb_log_level to = level == LIBBPF_WARN ? BB_LOG_WARN : BB_LOG_DEBUG;
	bool in_verifier_log = false;
	char buf[8192], *line, *save = NULL, last[REASON_MAX] = "";

	if (level == LIBBPF_DEBUG) {
		if (tls_libbpf_debug)
			to = BB_LOG_INFO;
		else if (bb_log_get_level() < BB_LOG_DEBUG)
			return 0;
	}
	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *text = strncmp(line, "libbpf: ", 8) == 0 ? line + 8 : line;

		/* The verifier's log is long: keep it for debugging, remember its last line. */
		if (strstr(text, "-- BEGIN PROG LOAD LOG --")) {
			in_verifier_log = true;
			capture_warning(text);
			bb_debug("libbpf: %s", text);
			continue;
		}
		if (in_verifier_log) {
			if (strstr(text, "-- END PROG LOAD LOG --")) {
				in_verifier_log = false;
				if (tls_capture && last[0])
					snprintf(tls_capture->verifier_tail,
						 sizeof(tls_capture->verifier_tail), "%s", last);
			} else if (*text && !verifier_stats_line(text)) {
				snprintf(last, sizeof(last), "%s", text);
			}
			bb_debug("libbpf: %s", text);
			continue;
		}
		if (level == LIBBPF_WARN) {
			capture_warning(text);
			if (tls_last_warning)
				snprintf(tls_last_warning, REASON_MAX, "%s", text);
		}
		bb_log(to, "libbpf: %s", text);
	}
	return 0;
}

static pthread_once_t libbpf_once = PTHREAD_ONCE_INIT;
static libbpf_print_fn_t prev_libbpf_print;
static bool libbpf_once_done;
static int perf_event_handler = -1;
static int xdp_handler = -1;

static void libbpf_setup(void)
{
	LIBBPF_OPTS(libbpf_prog_handler_opts, hopts);
	int ret;

	prev_libbpf_print = libbpf_set_print(libbpf_print);
	libbpf_once_done = true;
	/* ebpf_exporter's SEC("perf_event/type=..,config=..,frequency=..");
	 * attached by hand on every online CPU, see attach_perf_event(). */
	ret = libbpf_register_prog_handler("perf_event/", BPF_PROG_TYPE_PERF_EVENT, 0, &hopts);
	if (ret < 0)
		bb_warn("cannot register the perf_event/ section handler: %s", errno_text(ret));
	else
		perf_event_handler = ret;
	/* ebpf_exporter's SEC("xdp/IFNAME"), attached to that interface by attach_xdp().
	 * libbpf's own xdp sections ("xdp", "xdp.frags", ...) keep their meaning. */
	ret = libbpf_register_prog_handler("xdp/", BPF_PROG_TYPE_XDP, BPF_XDP, &hopts);
	if (ret < 0)
		bb_warn("cannot register the xdp/ section handler: %s", errno_text(ret));
	else
		xdp_handler = ret;
}

void bb_loader_init_libbpf(void)
{
	pthread_once(&libbpf_once, libbpf_setup);
}

/* ---- what a program attaches to ---------------------------------------------- */

enum attach_kind {
	AK_OTHER = 0,
	AK_KPROBE,
	AK_KSYSCALL,
	AK_KPROBE_MULTI,
	AK_TRACING, /* fentry, fexit, fmod_ret */
	AK_TP_BTF,
	AK_TRACEPOINT,
	AK_RAW_TP,
	AK_UPROBE,
	AK_USDT,
	AK_PERF_EVENT,
	AK_XDP_IFNAME,
};

static const struct {
	const char *prefix;
	enum attach_kind kind;
	enum bpf_attach_type type; /* for AK_TRACING */
	bool sleepable;
} sec_kinds[] = {
	{ .prefix = "kprobe/", .kind = AK_KPROBE },
	{ .prefix = "kretprobe/", .kind = AK_KPROBE },
	{ .prefix = "ksyscall/", .kind = AK_KSYSCALL },
	{ .prefix = "kretsyscall/", .kind = AK_KSYSCALL },
	{ .prefix = "kprobe.multi/", .kind = AK_KPROBE_MULTI },
	{ .prefix = "kretprobe.multi/", .kind = AK_KPROBE_MULTI },
	{ .prefix = "fentry/", .kind = AK_TRACING, .type = BPF_TRACE_FENTRY },
	{ .prefix = "fentry.s/", .kind = AK_TRACING, .type = BPF_TRACE_FENTRY, .sleepable = true },
	{ .prefix = "fexit/", .kind = AK_TRACING, .type = BPF_TRACE_FEXIT },
	{ .prefix = "fexit.s/", .kind = AK_TRACING, .type = BPF_TRACE_FEXIT, .sleepable = true },
	{ .prefix = "fmod_ret/", .kind = AK_TRACING, .type = BPF_MODIFY_RETURN },
	{ .prefix = "fmod_ret.s/",
	  .kind = AK_TRACING,
	  .type = BPF_MODIFY_RETURN,
	  .sleepable = true },
	{ .prefix = "tp_btf/", .kind = AK_TP_BTF, .type = BPF_TRACE_RAW_TP },
	{ .prefix = "tracepoint/", .kind = AK_TRACEPOINT },
	{ .prefix = "tp/", .kind = AK_TRACEPOINT },
	{ .prefix = "raw_tracepoint/", .kind = AK_RAW_TP },
	{ .prefix = "raw_tp/", .kind = AK_RAW_TP },
	{ .prefix = "raw_tracepoint.w/", .kind = AK_RAW_TP },
	{ .prefix = "raw_tp.w/", .kind = AK_RAW_TP },
	{ .prefix = "uprobe/", .kind = AK_UPROBE },
	{ .prefix = "uprobe.s/", .kind = AK_UPROBE },
	{ .prefix = "uretprobe/", .kind = AK_UPROBE },
	{ .prefix = "uretprobe.s/", .kind = AK_UPROBE },
	{ .prefix = "usdt/", .kind = AK_USDT },
	{ .prefix = "perf_event/", .kind = AK_PERF_EVENT },
	{ .prefix = "xdp/", .kind = AK_XDP_IFNAME },
};

struct sec_info {
	enum attach_kind kind;
	enum bpf_attach_type type;
	bool sleepable;
	char label[32];	    /* "kprobe", "tp_btf", ... for messages */
	const char *target; /* points into the section name */
};

static void classify(const char *sec, struct sec_info *si)
{
	memset(si, 0, sizeof(*si));
	if (sec[0] == '?')
		sec++;
	for (size_t i = 0; i < sizeof(sec_kinds) / sizeof(sec_kinds[0]); i++) {
		size_t n = strlen(sec_kinds[i].prefix);

		if (strncmp(sec, sec_kinds[i].prefix, n) == 0) {
			si->kind = sec_kinds[i].kind;
			si->type = sec_kinds[i].type;
			si->sleepable = sec_kinds[i].sleepable;
			snprintf(si->label, sizeof(si->label), "%.*s", (int)(n - 1), sec);
			si->target = sec + n;
			return;
		}
	}
	snprintf(si->label, sizeof(si->label), "%s", sec);
	si->target = "";
}

/* kernel.perf_event_paranoid, or 2 (upstream's default) when unreadable. */
static int perf_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	int v = 2;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 2;
		fclose(f);
	}
	return v;
}

/* Measured on Linux 6.18 and in the kernel matrix as a non-root user
 * (docs/containers.md). */
static uint64_t caps_needed(const struct sec_info *si)
{
	switch (si->kind) {
	case AK_KPROBE: /* Debian's paranoid-3 patch: perf_event_open() wants CAP_SYS_ADMIN */
	case AK_KSYSCALL:
		return perf_paranoid() > 2 ? BB_CAP_SYS_ADMIN : BB_CAPS_BASE;
	case AK_TRACEPOINT: /* the event's id is read from tracefs, mode 0700 */
		return BB_CAPS_BASE | BB_CAP_DAC_READ_SEARCH;
	case AK_UPROBE: /* the uprobe PMU wants CAP_SYS_ADMIN (EACCES with CAP_PERFMON) */
	case AK_USDT:
		return BB_CAP_SYS_ADMIN;
	default:
		return BB_CAPS_BASE;
	}
}

static void set_reason(char *out, size_t len, const struct sec_info *si, int err,
		       const char *explanation)
{
	char hint[160];

	bb_caps_hint(err, caps_needed(si), hint, sizeof(hint));
	if (explanation)
		fmt(out, len, "%s %s: %s (%s)%s", si->label, si->target, explanation,
		    errno_name(err), hint);
	else
		fmt(out, len, "%s %s: %s (%s)%s", si->label, si->target, errno_name(err),
		    errno_text(err), hint);
}

/* ---- kernel facilities, probed once per process ---------------------------------- */

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *tracefs_dir; /* NULL until found; "" when unavailable */
static struct btf *vmlinux_btf; /* held only while some bb_loader_open() runs */
static int vmlinux_btf_err;	/* 0 = not tried */
static int opens_running;

/* The tracefs libbpf will use; mount it at /sys/kernel/tracing if nothing is there. */
static const char *tracefs(void)
{
	const char *dir;

	pthread_mutex_lock(&probe_lock);
	if (!tracefs_dir) {
		if (access(DEBUGFS_TRACING "/events", F_OK) == 0) {
			tracefs_dir = DEBUGFS_TRACING;
		} else if (access(TRACEFS "/events", F_OK) == 0) {
			tracefs_dir = TRACEFS;
		} else if (mount("nodev", TRACEFS, "tracefs", 0, NULL) == 0) {
			bb_info("mounted tracefs at " TRACEFS " (tracepoints need it)");
			tracefs_dir = TRACEFS;
		} else {
			bb_warn("tracefs is not mounted and mounting it at " TRACEFS " failed: %s",
				bb_strerror(errno));
			tracefs_dir = "";
		}
	}
	dir = tracefs_dir;
	pthread_mutex_unlock(&probe_lock);
	return dir[0] ? dir : NULL;
}

static const struct btf *kernel_btf(int *err)
{
	const struct btf *btf;

	pthread_mutex_lock(&probe_lock);
	if (!vmlinux_btf && !vmlinux_btf_err) {
		vmlinux_btf = btf__load_vmlinux_btf();
		if (!vmlinux_btf)
			vmlinux_btf_err = errno ? -errno : -ENOENT;
	}
	btf = vmlinux_btf;
	*err = vmlinux_btf_err;
	pthread_mutex_unlock(&probe_lock);
	return btf;
}

static void drop_failed_probes_locked(void);

/* The kernel's BTF is several MB: keep it only while loaders need it. */
static void opens_enter(void)
{
	pthread_mutex_lock(&probe_lock);
	opens_running++;
	pthread_mutex_unlock(&probe_lock);
}

static void opens_leave(void)
{
	pthread_mutex_lock(&probe_lock);
	if (--opens_running == 0) {
		btf__free(vmlinux_btf);
		vmlinux_btf = NULL;
		vmlinux_btf_err = 0;
		drop_failed_probes_locked();
		if (tracefs_dir && !*tracefs_dir)
			tracefs_dir = NULL; /* not found: look again next time */
	}
	pthread_mutex_unlock(&probe_lock);
}

/* Probe results, cached by "kind target". A success is kept for the life of the
 * process; a failure only while opens run at the same time (the configs of one
 * start share it): the next open probes again, since a module may have been
 * loaded, tracefs mounted or a binary installed meanwhile. */
struct probe_entry {
	char *key;
	int err;
	char reason[REASON_MAX];
	struct probe_entry *next;
};

static struct probe_entry *probe_cache;

static void drop_failed_probes_locked(void)
{
	for (struct probe_entry **pp = &probe_cache; *pp;) {
		struct probe_entry *e = *pp;

		if (!e->err) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		free(e->key);
		free(e);
	}
}

static bool probe_cached(const char *key, int *err, char *reason, size_t len)
{
	bool found = false;

	pthread_mutex_lock(&probe_lock);
	for (struct probe_entry *e = probe_cache; e; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			*err = e->err;
			snprintf(reason, len, "%s", e->reason);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&probe_lock);
	return found;
}

/* When the library goes away (a dlclose()d plugin): drop the caches. */
static void __attribute__((destructor)) probe_cache_free(void)
{
	while (probe_cache) {
		struct probe_entry *e = probe_cache;

		probe_cache = e->next;
		free(e->key);
		free(e);
	}
	btf__free(vmlinux_btf);
	vmlinux_btf = NULL;
	/* Both handlers: libbpf would keep calling into an unloaded plugin, and
	 * its handler array is freed only when the last one goes. */
	if (xdp_handler >= 0)
		libbpf_unregister_prog_handler(xdp_handler);
	xdp_handler = -1;
	if (perf_event_handler >= 0)
		libbpf_unregister_prog_handler(perf_event_handler);
	perf_event_handler = -1;
	/* libbpf outlives a dlclose()d module: give it back the printer it had,
	 * unless someone else has replaced ours since */
	if (libbpf_once_done) {
		libbpf_print_fn_t cur = libbpf_set_print(prev_libbpf_print);

		if (cur != libbpf_print)
			libbpf_set_print(cur);
	}
}

static void probe_remember(const char *key, int err, const char *reason)
{
	struct probe_entry *e = calloc(1, sizeof(*e));

	if (!e || !(e->key = strdup(key))) {
		free(e);
		return;
	}
	e->err = err;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	pthread_mutex_lock(&probe_lock);
	e->next = probe_cache;
	probe_cache = e;
	pthread_mutex_unlock(&probe_lock);
}

/* Does a line-oriented FILE list NAME as its first word (or the word after
 * COLUMN words, for /proc/kallsyms)? -errno when it cannot be read. */
static int file_lists(const char *file, const char *name, int column, bool text_only)
{
	size_t nlen = strlen(name);
	char line[1024];
	FILE *f = fopen(file, "re");
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;

		for (int c = 0; c < column && p; c++) {
			char *sp = strchr(p, ' ');

			if (c == 1 && text_only && p[0] != 't' && p[0] != 'T') {
				p = NULL;
				break;
			}
			p = sp ? sp + 1 : NULL;
		}
		if (p && strncmp(p, name, nlen) == 0 &&
		    (p[nlen] == '\n' || p[nlen] == ' ' || p[nlen] == '\t' || p[nlen] == '\0')) {
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool kprobes_supported(void)
{
	const char *tfs;
	char path[PATH_MAX];

	if (access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0)
		return true;
	tfs = tracefs();
	if (!tfs)
		return false;
	snprintf(path, sizeof(path), "%s/kprobe_events", tfs);
	return access(path, F_OK) == 0;
}

/* Is FUNC a kernel function a kprobe can hit? */
static int kernel_function_exists(const char *func, const char **where)
{
	const char *tfs = tracefs();
	char path[PATH_MAX];
	int ret;

	if (tfs) {
		snprintf(path, sizeof(path), "%s/available_filter_functions", tfs);
		*where = "available_filter_functions";
		ret = file_lists(path, func, 0, false);
		if (ret >= 0)
			return ret;
	}
	*where = "/proc/kallsyms";
	return file_lists("/proc/kallsyms", func, 2, true);
}

static const char *syscall_prefix(void)
{
	struct utsname u;

	if (uname(&u))
		return "sys_";
	if (strcmp(u.machine, "x86_64") == 0)
		return "__x64_sys_";
	if (strcmp(u.machine, "aarch64") == 0)
		return "__arm64_sys_";
	if (strcmp(u.machine, "s390x") == 0)
		return "__s390x_sys_";
	if (strncmp(u.machine, "riscv", 5) == 0)
		return "__riscv_sys_";
	return "sys_";
}

static int probe_kprobe(const struct sec_info *si, char *reason, size_t len)
{
	char func[256];
	const char *where = "";
	int found;

	if (!kprobes_supported()) {
		set_reason(reason, len, si, -ENOTSUP, "kprobes not supported by this kernel");
		return -ENOTSUP;
	}
	if (si->kind == AK_KPROBE_MULTI)
		return 0; /* a pattern; the kernel resolves it at attach */
	if (si->kind == AK_KSYSCALL) {
		snprintf(func, sizeof(func), "%s%s", syscall_prefix(), si->target);
		if (kernel_function_exists(func, &where) == 1)
			return 0;
		snprintf(func, sizeof(func), "sys_%s", si->target);
	} else {
		snprintf(func, sizeof(func), "%.*s", (int)strcspn(si->target, "+"), si->target);
	}
	found = kernel_function_exists(func, &where);
	if (found == 1)
		return 0;
	if (found < 0) {
		char expl[128];

		snprintf(expl, sizeof(expl), "cannot read %s", where);
		set_reason(reason, len, si, found, expl);
		return found;
	}
	{
		char expl[160];

		fmt(expl, sizeof(expl), "no function %s in %s", func, where);
		set_reason(reason, len, si, -ENOENT, expl);
	}
	return -ENOENT;
}

/* r0 = 0; exit */
static const struct bpf_insn probe_insns[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

/* fentry/fexit/fmod_ret/tp_btf: the target must be in the kernel's BTF and the
 * kernel must actually let such a program load and attach there. */
static int probe_tracing(const struct sec_info *si, char *reason, size_t len)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	const struct btf *btf;
	char name[256];
	int id, fd, link, err;

	btf = kernel_btf(&err);
	if (!btf) {
		set_reason(reason, len, si, err,
			   "the kernel exposes no BTF (/sys/kernel/btf/vmlinux), which this "
			   "attach type needs");
		return err;
	}
	if (si->kind == AK_TP_BTF) {
		snprintf(name, sizeof(name), "btf_trace_%s", si->target);
		id = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF);
	} else {
		snprintf(name, sizeof(name), "%s", si->target);
		id = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC);
	}
	if (id < 0) {
		set_reason(reason, len, si, -ENOENT,
			   si->kind == AK_TP_BTF ? "no such tracepoint in the kernel's BTF"
						 : "no such function in the kernel's BTF");
		return -ENOENT;
	}
	opts.expected_attach_type = si->type;
	opts.attach_btf_id = id;
	if (si->sleepable)
		opts.prog_flags = BPF_F_SLEEPABLE;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "bb_probe", "GPL", probe_insns, 2, &opts);
	if (fd < 0) {
		err = -errno;
		set_reason(reason, len, si, err, NULL);
		return err;
	}
	link = bpf_raw_tracepoint_open(NULL, fd);
	err = link < 0 ? -errno : 0;
	if (link >= 0)
		close(link);
	close(fd);
	if (err)
		set_reason(reason, len, si, err, NULL);
	return err;
}

static int probe_raw_tp(const struct sec_info *si, char *reason, size_t len)
{
	int fd, link, err;

	fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "bb_probe", "GPL", probe_insns, 2, NULL);
	if (fd < 0) {
		err = -errno;
		set_reason(reason, len, si, err, NULL);
		return err;
	}
	link = bpf_raw_tracepoint_open(si->target, fd);
	err = link < 0 ? -errno : 0;
	if (link >= 0)
		close(link);
	close(fd);
	if (err == -ENOENT)
		set_reason(reason, len, si, err, "no such tracepoint");
	else if (err)
		set_reason(reason, len, si, err, NULL);
	return err;
}

static int probe_tracepoint(const struct sec_info *si, char *reason, size_t len)
{
	const char *tfs = tracefs();
	char path[PATH_MAX], expl[PATH_MAX + 64];
	struct stat st;

	if (!tfs && stat(TRACEFS "/events", &st) && errno == EACCES) {
		/* mounted, but root's and mode 0700: not a mount problem */
		set_reason(reason, len, si, -EACCES, "tracefs at " TRACEFS " is not searchable");
		return -EACCES;
	}
	if (!tfs) {
		set_reason(reason, len, si, -ENOENT,
			   "tracefs is not mounted at " TRACEFS " and could not be mounted");
		return -ENOENT;
	}
	if (!strchr(si->target, '/')) {
		set_reason(reason, len, si, -EINVAL, "section is not tracepoint/CATEGORY/NAME");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/events/%s", tfs, si->target);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	snprintf(expl, sizeof(expl), "no such tracepoint (%s missing)", path);
	set_reason(reason, len, si, -ENOENT, expl);
	return -ENOENT;
}

/* Find BIN the way a user would name it: a path, a library, or a command. */
static bool resolve_binary(const char *bin, char *out, size_t len)
{
	static const char *const libdirs[] = { "/lib/x86_64-linux-gnu",
					       "/usr/lib/x86_64-linux-gnu",
					       "/lib/aarch64-linux-gnu",
					       "/usr/lib/aarch64-linux-gnu",
					       "/lib64",
					       "/usr/lib64",
					       "/lib",
					       "/usr/lib" };
	const char *path_env;

	if (strchr(bin, '/')) {
		snprintf(out, len, "%s", bin);
		return access(out, R_OK) == 0;
	}
	if (strstr(bin, ".so")) {
		for (size_t i = 0; i < sizeof(libdirs) / sizeof(libdirs[0]); i++) {
			fmt(out, len, "%s/%s", libdirs[i], bin);
			if (access(out, R_OK) == 0)
				return true;
		}
		return false;
	}
	path_env = getenv("PATH");
	if (!path_env)
		path_env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path_env) {
		size_t n = strcspn(path_env, ":");

		fmt(out, len, "%.*s/%s", (int)n, path_env, bin);
		if (n && access(out, X_OK) == 0)
			return true;
		path_env += n + (path_env[n] == ':');
	}
	return false;
}

/* Does the ELF file at PATH define function symbol SYM (symtab or dynsym)?
 * 1 yes, 0 no, -errno when it is not a readable 64-bit ELF file. */
static int elf_has_symbol(const char *path, const char *sym)
{
	struct stat st;
	const uint8_t *base;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	size_t size, slen = strlen(sym);
	int fd, found = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return -ENOEXEC;
	}
	size = (size_t)st.st_size;
	base = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return -errno;
	eh = (const Elf64_Ehdr *)base;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > size ||
	    (size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum) {
		munmap((void *)base, size);
		return -ENOEXEC;
	}
	sh = (const Elf64_Shdr *)(base + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum && !found; i++) {
		const Elf64_Shdr *strs;
		const char *names;

		if (sh[i].sh_type != SHT_SYMTAB && sh[i].sh_type != SHT_DYNSYM)
			continue;
		if (sh[i].sh_link >= eh->e_shnum || sh[i].sh_offset > size ||
		    sh[i].sh_size > size - sh[i].sh_offset)
			continue;
		strs = &sh[sh[i].sh_link];
		if (strs->sh_offset > size || strs->sh_size > size - strs->sh_offset)
			continue;
		names = (const char *)base + strs->sh_offset;
		for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); k++) {
			const Elf64_Sym *s = (const Elf64_Sym *)(base + sh[i].sh_offset) + k;

			if (ELF64_ST_TYPE(s->st_info) != STT_FUNC &&
			    ELF64_ST_TYPE(s->st_info) != STT_GNU_IFUNC)
				continue;
			if (s->st_shndx == SHN_UNDEF || s->st_name >= strs->sh_size ||
			    strs->sh_size - s->st_name <= slen)
				continue;
			/* exact name, or a versioned one ("malloc@@GLIBC_2.2.5") */
			if (strncmp(names + s->st_name, sym, slen) == 0 &&
			    (names[s->st_name + slen] == '\0' || names[s->st_name + slen] == '@')) {
				found = 1;
				break;
			}
		}
	}
	munmap((void *)base, size);
	return found;
}

static int probe_uprobe(const struct sec_info *si, char *reason, size_t len)
{
	char bin[PATH_MAX], path[PATH_MAX], func[256], expl[PATH_MAX + 64];
	const char *colon = strchr(si->target, ':');
	int ret;

	if (!colon) {
		set_reason(
			reason, len, si, -EINVAL,
			"section names no BINARY:FUNCTION, so it cannot be attached automatically");
		return -EINVAL;
	}
	if (si->kind == AK_UPROBE && access("/sys/bus/event_source/devices/uprobe/type", F_OK)) {
		set_reason(reason, len, si, -ENOTSUP, "uprobes not supported by this kernel");
		return -ENOTSUP;
	}
	snprintf(bin, sizeof(bin), "%.*s", (int)(colon - si->target), si->target);
	if (!resolve_binary(bin, path, sizeof(path))) {
		snprintf(expl, sizeof(expl), "binary %s not found", bin);
		set_reason(reason, len, si, -ENOENT, expl);
		return -ENOENT;
	}
	if (si->kind == AK_USDT)
		return 0;
	snprintf(func, sizeof(func), "%.*s", (int)strcspn(colon + 1, "+"), colon + 1);
	if (func[0] == '\0' || isdigit((unsigned char)func[0]))
		return 0; /* a raw offset */
	ret = elf_has_symbol(path, func);
	if (ret == 1)
		return 0;
	if (ret < 0) {
		snprintf(expl, sizeof(expl), "cannot read symbols of %s", path);
		set_reason(reason, len, si, ret, expl);
		return ret;
	}
	snprintf(expl, sizeof(expl), "%s has no function %s", path, func);
	set_reason(reason, len, si, -ENOENT, expl);
	return -ENOENT;
}

/* perf_event/type=T,config=C[,frequency=F|period=P] (ebpf_exporter's syntax) */
static int parse_perf_event(const char *spec, struct perf_event_attr *attr, char *why, size_t len)
{
	char buf[256], *item, *save = NULL;
	bool have_type = false;

	memset(attr, 0, sizeof(*attr));
	attr->size = sizeof(*attr);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '='), *end;
		unsigned long long v;

		if (!eq) {
			snprintf(why, len, "item \"%s\" is not KEY=VALUE", item);
			return -EINVAL;
		}
		*eq = '\0';
		errno = 0;
		v = strtoull(eq + 1, &end, 0);
		if (errno || end == eq + 1 || *end) {
			snprintf(why, len, "%s: \"%s\" is not a number", item, eq + 1);
			return -EINVAL;
		}
		if (strcmp(item, "type") == 0) {
			attr->type = (uint32_t)v;
			have_type = true;
		} else if (strcmp(item, "config") == 0) {
			attr->config = v;
		} else if (strcmp(item, "frequency") == 0) {
			attr->freq = 1;
			attr->sample_freq = v;
		} else if (strcmp(item, "period") == 0) {
			attr->freq = 0;
			attr->sample_period = v;
		} else {
			snprintf(why, len,
				 "unknown item \"%s\" (expected type, config, frequency, period)",
				 item);
			return -EINVAL;
		}
	}
	if (!have_type) {
		snprintf(why, len, "no type= item");
		return -EINVAL;
	}
	if (!attr->sample_freq && !attr->sample_period)
		attr->sample_period = 1;
	return 0;
}

static int perf_event_open(struct perf_event_attr *attr, int cpu)
{
	return (int)syscall(__NR_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static int probe_perf_event(const struct sec_info *si, char *reason, size_t len)
{
	struct perf_event_attr attr;
	char why[160];
	int fd, err;

	err = parse_perf_event(si->target, &attr, why, sizeof(why));
	if (err) {
		set_reason(reason, len, si, err, why);
		return err;
	}
	fd = perf_event_open(&attr, 0);
	if (fd < 0) {
		err = -errno;
		set_reason(reason, len, si, err, NULL);
		return err;
	}
	close(fd);
	return 0;
}

/* ebpf_exporter's uprobe on its own post_attach_mark(), called once after attach. */
#define POST_ATTACH_TARGET "/proc/self/exe:post_attach_mark"

static bool is_post_attach_mark(const struct sec_info *si)
{
	return si->kind == AK_UPROBE && strncmp(si->label, "uprobe", 6) == 0 &&
	       strcmp(si->target, POST_ATTACH_TARGET) == 0;
}

static int probe_xdp_ifname(const struct sec_info *si, char *reason, size_t len)
{
	char expl[IF_NAMESIZE + 64];

	if (strlen(si->target) >= IF_NAMESIZE || !if_nametoindex(si->target)) {
		int err = strlen(si->target) >= IF_NAMESIZE ? -ENAMETOOLONG : -errno;

		snprintf(expl, sizeof(expl), "no network interface %.*s in this network namespace",
			 IF_NAMESIZE, si->target);
		set_reason(reason, len, si, err == -ENXIO ? -ENODEV : err, expl);
		return err == -ENXIO ? -ENODEV : err;
	}
	return 0;
}

/* Can this program's attach target work on this kernel? Cached per process. */
static int probe_target(const struct sec_info *si, char *reason, size_t len)
{
	char key[512];
	int err = 0;

	reason[0] = '\0';
	if (si->kind == AK_OTHER || is_post_attach_mark(si))
		return 0; /* post_attach_mark is ours: always there */
	if (si->kind == AK_XDP_IFNAME)
		return probe_xdp_ifname(si, reason, len); /* interfaces come and go: no cache */
	fmt(key, sizeof(key), "%s/%d/%d %s", si->label, si->type, si->sleepable, si->target);
	if (probe_cached(key, &err, reason, len))
		return err;
	switch (si->kind) {
	case AK_KPROBE:
	case AK_KSYSCALL:
	case AK_KPROBE_MULTI:
		err = probe_kprobe(si, reason, len);
		break;
	case AK_TRACING:
	case AK_TP_BTF:
		err = probe_tracing(si, reason, len);
		break;
	case AK_RAW_TP:
		err = probe_raw_tp(si, reason, len);
		break;
	case AK_TRACEPOINT:
		err = probe_tracepoint(si, reason, len);
		break;
	case AK_UPROBE:
	case AK_USDT:
		err = probe_uprobe(si, reason, len);
		break;
	case AK_PERF_EVENT:
		err = probe_perf_event(si, reason, len);
		break;
	case AK_XDP_IFNAME:
		err = probe_xdp_ifname(si, reason, len);
		break;
	default:
		break;
	}
	probe_remember(key, err, reason);
	bb_debug("probe %s %s: %s", si->label, si->target, err ? reason : "ok");
	return err;
}

/* ---- the loader ------------------------------------------------------------------ */

/* One perf event of a perf_event/ program, and the link that owns it. */
struct perf_link {
	int cpu;
	int fd;		  /* the perf event (closed by the link) */
	uint64_t enabled; /* its enabled time at the last check, ns */
};

struct prog {
	char *name;
	char *section;
	struct sec_info si;
	int hook, alt;	       /* -1 when no hook names it */
	bool autoload_default; /* what the object says ("?" sections are off) */

	bool probed;
	int probe_err;
	char probe_reason[REASON_MAX];

	bool load_failed; /* disabled after breaking the object's load */
	int load_err;
	char load_reason[REASON_MAX];

	struct bpf_link **links;
	size_t n_links;
	/* perf_event/ programs: what links[i] samples (bb_loader_follow_cpus) */
	struct perf_link *plinks;
	bool *cpu_warned;     /* per possible CPU: an attach there failed, said once */
	bool post_attach;     /* SEC("uprobe//proc/self/exe:post_attach_mark") */
	bool post_attach_ran; /* and it ran, then was detached */
	int attach_err;
	char attach_reason[REASON_MAX];
};

struct hook {
	const struct bb_hook_conf *conf;
	int chosen; /* -1: none works */
	bool *alt_bad;
};

struct bb_loader {
	const struct bb_config *cfg;
	struct bb_options opts;
	char *obj_buf;
	size_t obj_len;
	struct bpf_object *obj;
	struct prog *progs;
	size_t n_progs;
	struct hook *hooks;
	size_t n_hooks;
	struct bb_program_status *status;
	struct bb_perfsink **sinks; /* per metric; NULL unless perf_event_array */
	struct bb_cgroups *cgroups; /* keeps the config's cgroup_id_map filled, or NULL */
	int btf_fd;		    /* the checked --btf file, -1 when none */
	char btf_fd_path[32];
	/* A reload of the same object: its maps are reused (bpf_map__reuse_fd) so
	 * counts survive, and its programs are detached before ours attach. */
	struct bb_loader *reuse;
	size_t n_reused;
	uint64_t *kaddrs; /* per cfg->kaddrs, read once per open; NULL until then */
};

static int prog_index(const struct bb_loader *ld, const char *name)
{
	for (size_t i = 0; i < ld->n_progs; i++) {
		if (strcmp(ld->progs[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

static void program_names(const struct bb_loader *ld, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ld->n_progs && used < len; i++)
		used += snprintf(out + used, len - used, "%s%s", i ? ", " : "", ld->progs[i].name);
}

static int open_object(struct bb_loader *ld, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = ld->cfg->name,
		    .btf_custom_path = ld->opts.btf_path);
	int ret;

	char why[REASON_MAX] = "";

	/* libbpf < 1.3 crashes on some malformed objects: refuse them first */
	ret = bb_objcheck(ld->obj_buf, ld->obj_len, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "%s: not a valid BPF object: %s", ld->cfg->object_path, why);
		return ret;
	}
	tls_last_warning = why;
	ld->obj = bpf_object__open_mem(ld->obj_buf, ld->obj_len, &oo);
	ret = ld->obj ? 0 : errno ? -errno : -EINVAL;
	tls_last_warning = NULL;
	if (ret) {
		/* libbpf's errno alone ("No such file or directory" for an extern it
		 * cannot resolve) hides the cause; its last warning names it. */
		if (why[0])
			snprintf(err, errlen, "%s: cannot open BPF object: %s (%s)",
				 ld->cfg->object_path, why, errno_text(ret));
		else
			snprintf(err, errlen, "%s: cannot open BPF object: %s",
				 ld->cfg->object_path, errno_text(ret));
		return ret;
	}
	return 0;
}

/* First open: learn the programs and tie hooks to them. */
static int index_programs(struct bb_loader *ld, char *err, size_t errlen)
{
	const struct bb_config *cfg = ld->cfg;
	struct bpf_program *p;
	size_t n = 0;

	bpf_object__for_each_program (p, ld->obj)
		n++;
	ld->progs = calloc(n ? n : 1, sizeof(*ld->progs));
	if (!ld->progs)
		goto nomem;
	bpf_object__for_each_program (p, ld->obj) {
		struct prog *pr = &ld->progs[ld->n_progs++];

		pr->name = strdup(bpf_program__name(p));
		pr->section = strdup(bpf_program__section_name(p));
		if (!pr->name || !pr->section)
			goto nomem;
		classify(pr->section, &pr->si);
		pr->post_attach = is_post_attach_mark(&pr->si);
		pr->hook = pr->alt = -1;
		pr->autoload_default = bpf_program__autoload(p);
	}

	ld->hooks = calloc(cfg->n_hooks ? cfg->n_hooks : 1, sizeof(*ld->hooks));
	if (!ld->hooks)
		goto nomem;
	ld->n_hooks = cfg->n_hooks; /* only now: close walks them (fault injection) */
	for (size_t h = 0; h < cfg->n_hooks; h++) {
		const struct bb_hook_conf *hc = &cfg->hooks[h];

		ld->hooks[h].conf = hc;
		ld->hooks[h].chosen = -1;
		ld->hooks[h].alt_bad = calloc(hc->n_alternatives ? hc->n_alternatives : 1, 1);
		if (!ld->hooks[h].alt_bad)
			goto nomem;
		for (size_t a = 0; a < hc->n_alternatives; a++) {
			const struct bb_alternative *alt = &hc->alternatives[a];

			for (size_t k = 0; k < alt->n_programs; k++) {
				int i = prog_index(ld, alt->programs[k]);
				char names[512];

				if (i < 0) {
					program_names(ld, names, sizeof(names));
					snprintf(err, errlen,
						 "%s:%d:%d: hooks: %s: program %s not found in %s "
						 "(its programs: %s)",
						 cfg->yaml_path, alt->pos.line, alt->pos.column,
						 hc->name, alt->programs[k], cfg->object_path,
						 names[0] ? names : "none");
					return -ENOENT;
				}
				if (ld->progs[i].hook >= 0) {
					snprintf(err, errlen,
						 "%s:%d:%d: hooks: %s: program %s is already an "
						 "alternative of hook %s",
						 cfg->yaml_path, alt->pos.line, alt->pos.column,
						 hc->name, alt->programs[k],
						 cfg->hooks[ld->progs[i].hook].name);
					return -EINVAL;
				}
				ld->progs[i].hook = (int)h;
				ld->progs[i].alt = (int)a;
			}
		}
	}
	return 0;
nomem:
	snprintf(err, errlen, "%s: out of memory", cfg->object_path);
	return -ENOMEM;
}

static int check_maps(struct bb_loader *ld, char *err, size_t errlen)
{
	const struct bb_config *cfg = ld->cfg;

	for (size_t i = 0; i < cfg->n_metrics; i++) {
		const struct bb_metric_conf *m = &cfg->metrics[i];
		struct bpf_map *map = bpf_object__find_map_by_name(ld->obj, m->name);
		struct bb_map_desc desc;
		int ret;

		if (!map) {
			char names[512] = "";
			size_t used = 0;
			struct bpf_map *mp;

			bpf_object__for_each_map (mp, ld->obj) {
				if (bpf_map__is_internal(mp) || used >= sizeof(names))
					continue;
				used += snprintf(names + used, sizeof(names) - used, "%s%s",
						 used ? ", " : "", bpf_map__name(mp));
			}
			snprintf(err, errlen,
				 "%s:%d:%d: metric %s: %s has no map named %s (its maps: %s)",
				 cfg->yaml_path, m->pos.line, m->pos.column, m->name,
				 cfg->object_path, m->name, names[0] ? names : "none");
			return -ENOENT;
		}
		desc.name = bpf_map__name(map);
		desc.type = bpf_map__type(map);
		desc.key_size = bpf_map__key_size(map);
		desc.value_size = bpf_map__value_size(map);
		desc.max_entries = bpf_map__max_entries(map);
		if (m->perf_event_array != (desc.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY)) {
			const char *t = libbpf_bpf_map_type_str(desc.type);

			snprintf(err, errlen,
				 m->perf_event_array
					 ? "%s:%d:%d: metric %s: perf_event_array: true needs map "
					   "%s to be a perf_event_array map, got a %s map"
					 : "%s:%d:%d: metric %s: map %s is a %s map; set "
					   "perf_event_array: true to count its events",
				 cfg->yaml_path, m->pos.line, m->pos.column, m->name, desc.name,
				 t ? t : "unknown");
			return -EINVAL;
		}
		if (m->perf_event_array)
			continue; /* the reader binds the sink's map, checked then */
		ret = bb_reader_check_map(cfg, m, &desc, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* kaddrs: each symbol's address from /proc/kallsyms, once per open (the load
 * retries reuse it). */
static int resolve_kaddrs(struct bb_loader *ld, char *err, size_t errlen)
{
	const struct bb_config *cfg = ld->cfg;
	uint64_t *addrs;
	size_t found = 0;
	char line[512];
	FILE *f;
	int ret = 0;

	addrs = calloc(cfg->n_kaddrs, sizeof(*addrs));
	if (!addrs) {
		snprintf(err, errlen, "%s: out of memory", cfg->yaml_path);
		return -ENOMEM;
	}
	f = fopen("/proc/kallsyms", "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: kaddrs: cannot read /proc/kallsyms: %s", cfg->yaml_path,
			 bb_strerror(-ret));
		goto out;
	}
	while (found < cfg->n_kaddrs && fgets(line, sizeof(line), f)) {
		char type, name[256];
		unsigned long long addr;

		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		for (size_t k = 0; k < cfg->n_kaddrs; k++) {
			if (!addrs[k] && strcmp(cfg->kaddrs[k], name) == 0) {
				/* address 0: the symbol exists but kptr_restrict hides it */
				addrs[k] = addr ? addr : UINT64_MAX;
				found++;
			}
		}
	}
	fclose(f);
	for (size_t k = 0; k < cfg->n_kaddrs; k++) {
		if (!addrs[k]) {
			snprintf(err, errlen, "%s: kaddrs: no symbol %s in /proc/kallsyms",
				 cfg->yaml_path, cfg->kaddrs[k]);
			ret = -ENOENT;
			goto out;
		}
		if (addrs[k] == UINT64_MAX) {
			char hint[160];

			bb_caps_hint(-EPERM, BB_CAP_SYSLOG, hint, sizeof(hint));
			snprintf(err, errlen,
				 "%s: kaddrs: /proc/kallsyms hides the address of %s "
				 "(kernel.kptr_restrict, kernel.perf_event_paranoid)%s",
				 cfg->yaml_path, cfg->kaddrs[k], hint);
			ret = -EPERM;
			goto out;
		}
	}
out:
	if (ret)
		free(addrs);
	else
		ld->kaddrs = addrs;
	return ret;
}

/* kaddrs: write each symbol's address into `const volatile u64 kaddr_SYM`. */
static int fill_kaddrs(struct bb_loader *ld, char *err, size_t errlen)
{
	const struct bb_config *cfg = ld->cfg;
	struct bpf_map *rodata = NULL, *mp;
	const struct btf *btf;
	const struct btf_type *sec;
	const void *init;
	uint8_t *data = NULL;
	size_t size = 0;
	int id, ret = 0;

	if (cfg->n_kaddrs == 0)
		return 0;
	if (!ld->kaddrs) {
		ret = resolve_kaddrs(ld, err, errlen);
		if (ret)
			return ret;
	}
	bpf_object__for_each_map (mp, ld->obj) {
		const char *n = bpf_map__name(mp);
		size_t nl = strlen(n);

		if (bpf_map__is_internal(mp) && nl >= 7 && strcmp(n + nl - 7, ".rodata") == 0)
			rodata = mp;
	}
	btf = bpf_object__btf(ld->obj);
	id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -ENOENT;
	init = rodata ? bpf_map__initial_value(rodata, &size) : NULL;
	if (!rodata || id < 0 || !init) {
		snprintf(err, errlen,
			 "%s: kaddrs: %s has no .rodata with BTF (declare `const volatile u64 "
			 "kaddr_%s;`)",
			 cfg->yaml_path, cfg->object_path, cfg->kaddrs[0]);
		return -ENOENT;
	}
	data = malloc(size);
	if (!data) {
		snprintf(err, errlen, "%s: out of memory", cfg->yaml_path);
		return -ENOMEM;
	}
	memcpy(data, init, size);
	sec = btf__type_by_id(btf, id);
	for (size_t k = 0; k < cfg->n_kaddrs; k++) {
		const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
		char want[300];
		bool set = false;

		snprintf(want, sizeof(want), "kaddr_%s", cfg->kaddrs[k]);
		for (unsigned v = 0; v < btf_vlen(sec); v++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);
			const char *vname = var ? btf__name_by_offset(btf, var->name_off) : NULL;

			if (!vname || strcmp(vname, want))
				continue;
			/* size < 8: a crafted object's .rodata; size - 8 would wrap */
			if (vs->size != sizeof(uint64_t) || size < sizeof(uint64_t) ||
			    vs->offset > size - sizeof(uint64_t)) {
				snprintf(err, errlen,
					 "%s: kaddrs: %s in %s is %u bytes at offset %u of a "
					 "%zu-byte .rodata, expected a u64 inside it",
					 cfg->yaml_path, want, cfg->object_path, vs->size,
					 vs->offset, size);
				ret = -EINVAL;
				goto out;
			}
			memcpy(data + vs->offset, &ld->kaddrs[k], sizeof(uint64_t));
			set = true;
		}
		if (!set) {
			snprintf(err, errlen,
				 "%s: kaddrs: %s has no variable %s (declare `const volatile u64 "
				 "%s;`)",
				 cfg->yaml_path, cfg->object_path, want, want);
			ret = -ENOENT;
			goto out;
		}
	}
	ret = bpf_map__set_initial_value(rodata, data, size);
	if (ret)
		snprintf(err, errlen, "%s: kaddrs: cannot set .rodata: %s", cfg->yaml_path,
			 errno_text(ret));
out:
	free(data);
	return ret;
}

static void probe_program(struct prog *pr)
{
	if (pr->probed)
		return;
	pr->probe_err = probe_target(&pr->si, pr->probe_reason, sizeof(pr->probe_reason));
	pr->probed = true;
}

/* Pick, per hook, the first alternative whose programs all probe well and
 * that has not broken a load. Every program of a probed alternative is probed
 * so each one gets its own reason. */
static void choose_alternatives(struct bb_loader *ld)
{
	for (size_t h = 0; h < ld->n_hooks; h++) {
		struct hook *hk = &ld->hooks[h];

		hk->chosen = -1;
		for (size_t a = 0; a < hk->conf->n_alternatives; a++) {
			const struct bb_alternative *alt = &hk->conf->alternatives[a];
			bool ok = true;

			if (hk->alt_bad[a])
				continue;
			for (size_t k = 0; k < alt->n_programs; k++) {
				struct prog *pr = &ld->progs[prog_index(ld, alt->programs[k])];

				probe_program(pr);
				if (pr->probe_err)
					ok = false;
			}
			if (ok) {
				hk->chosen = (int)a;
				break;
			}
			hk->alt_bad[a] = true;
		}
	}
}

static bool prog_wanted(const struct bb_loader *ld, const struct prog *pr)
{
	if (pr->load_failed)
		return false;
	if (pr->hook >= 0)
		return ld->hooks[pr->hook].chosen == pr->alt;
	return pr->autoload_default;
}

/*
 * A map this kernel cannot create (task storage before 5.11, say) would fail
 * the whole object. Only the programs that use it need it: leave it out, so
 * they fail to load and their hook falls back to its next alternative. Metric
 * maps are always created: without them there is nothing to read.
 */
static void skip_unsupported_maps(struct bb_loader *ld)
{
	struct bpf_map *map;

	bpf_object__for_each_map (map, ld->obj) {
		enum bpf_map_type type = bpf_map__type(map);
		bool metric = false;

		if (bpf_map__is_internal(map) || type == BPF_MAP_TYPE_PERF_EVENT_ARRAY)
			continue;
		for (size_t i = 0; i < ld->cfg->n_metrics && !metric; i++)
			metric = strcmp(ld->cfg->metrics[i].name, bpf_map__name(map)) == 0;
		if (metric || libbpf_probe_bpf_map_type(type, NULL) != 0)
			continue;
		bb_info("%s: map %s: this kernel has no %s maps; programs that use it will not "
			"load",
			ld->cfg->name, bpf_map__name(map), libbpf_bpf_map_type_str(type));
		bpf_map__set_autocreate(map, false);
	}
}

/*
 * A reload of a byte-identical object (the YAML alone changed) shares the
 * running loader's maps, so counters and bucket history carry on. A map is
 * shared only when its definition is the same; internal maps (.rodata with
 * kaddrs, .bss) are not shared.
 */
static bool shareable_map_type(enum bpf_map_type type)
{
	switch (type) {
	case BPF_MAP_TYPE_PERF_EVENT_ARRAY: /* the old perf buffer clears its entries */
	case BPF_MAP_TYPE_RINGBUF:
	case BPF_MAP_TYPE_USER_RINGBUF:
	case BPF_MAP_TYPE_PROG_ARRAY: /* would hold the old programs */
	case BPF_MAP_TYPE_ARRAY_OF_MAPS:
	case BPF_MAP_TYPE_HASH_OF_MAPS:
	case BPF_MAP_TYPE_STRUCT_OPS:
		return false;
	default:
		return true;
	}
}

static void reuse_maps(struct bb_loader *ld)
{
	struct bpf_map *map;

	ld->n_reused = 0;
	if (!ld->reuse || !ld->reuse->obj || ld->reuse->obj_len != ld->obj_len ||
	    memcmp(ld->reuse->obj_buf, ld->obj_buf, ld->obj_len) != 0)
		return;
	bpf_object__for_each_map (map, ld->obj) {
		const struct bpf_map *old =
			bpf_object__find_map_by_name(ld->reuse->obj, bpf_map__name(map));

		if (bpf_map__is_internal(map) || !shareable_map_type(bpf_map__type(map)) || !old ||
		    bpf_map__fd(old) < 0 || bpf_map__type(old) != bpf_map__type(map) ||
		    bpf_map__key_size(old) != bpf_map__key_size(map) ||
		    bpf_map__value_size(old) != bpf_map__value_size(map) ||
		    bpf_map__max_entries(old) != bpf_map__max_entries(map) ||
		    bpf_map__map_flags(old) != bpf_map__map_flags(map))
			continue;
		if (bpf_map__reuse_fd(map, bpf_map__fd(old)) == 0)
			ld->n_reused++;
		else
			bb_warn("%s: map %s: cannot reuse the running map (%s); it starts empty",
				ld->cfg->name, bpf_map__name(map), errno_text(-errno));
	}
}

static void drop_links(struct prog *pr)
{
	for (size_t k = 0; k < pr->n_links; k++)
		bpf_link__destroy(pr->links[k]);
	free(pr->links);
	free(pr->plinks);
	free(pr->cpu_warned);
	pr->links = NULL;
	pr->plinks = NULL;
	pr->cpu_warned = NULL;
	pr->n_links = 0;
}

/* Detach (or re-attach) every program of a loader whose maps a reload shares:
 * both attached at once would count each event twice. */
static void detach_links(struct bb_loader *ld)
{
	for (size_t i = 0; i < ld->n_progs; i++)
		drop_links(&ld->progs[i]);
}

/* Names in an error come from the object (sections, programs, maps): keep the
 * error one line whatever bytes they hold. */
static int one_line(int ret, char *err, size_t errlen)
{
	for (unsigned char *c = (unsigned char *)err; errlen && *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			*c = '?';
	return ret;
}

/* Everything before the load syscall: open the object (libbpf parses ELF and
 * BTF), on the first attempt index its programs and check its maps against
 * the config, write kaddrs, probe and choose alternatives, set autoload. */
static int prepare(struct bb_loader *ld, size_t attempt, char *err, size_t errlen)
{
	struct bpf_program *p;
	size_t i = 0;
	int ret;

	if (!ld->obj) {
		ret = open_object(ld, err, errlen);
		if (ret)
			return one_line(ret, err, errlen);
	}
	if (attempt == 0) {
		ret = index_programs(ld, err, errlen);
		if (!ret)
			ret = check_maps(ld, err, errlen);
		if (ret)
			return one_line(ret, err, errlen);
	}
	ret = fill_kaddrs(ld, err, errlen);
	if (ret)
		return one_line(ret, err, errlen);
	choose_alternatives(ld);
	skip_unsupported_maps(ld);
	bpf_object__for_each_program (p, ld->obj) {
		if (i < ld->n_progs)
			bpf_program__set_autoload(p, prog_wanted(ld, &ld->progs[i]));
		i++;
	}
	reuse_maps(ld);
	return 0;
}

/* Prepare and load; after a load that one program broke, disable it (or its
 * alternative) and try again. */
static int load(struct bb_loader *ld, char *err, size_t errlen)
{
	const struct bb_config *cfg = ld->cfg;
	int ret;

	for (size_t attempt = 0;; attempt++) {
		struct load_capture cap;
		int bad;

		ret = prepare(ld, attempt, err, errlen);
		if (ret)
			return ret;
		memset(&cap, 0, sizeof(cap));
		tls_capture = &cap;
		ret = bpf_object__load(ld->obj);
		tls_capture = NULL;
		if (ret == 0)
			return 0;

		bad = cap.prog[0] ? prog_index(ld, cap.prog) : -1;
		/* each retry disables one more program, so this ends */
		if (bad < 0 || !prog_wanted(ld, &ld->progs[bad]) || attempt > ld->n_progs) {
			int btf_err = 0;

			/* CO-RE relocation is what fails first on a kernel without BTF, and
			 * libbpf's own errno (often ESRCH) does not say so. */
			if (!ld->opts.btf_path && !kernel_btf(&btf_err)) {
				snprintf(err, errlen,
					 "%s: loading failed: the kernel exposes no usable BTF "
					 "(/sys/kernel/btf/vmlinux: %s), which CO-RE relocation "
					 "needs; give a BTF file for this kernel with --btf FILE "
					 "(collectd: BTFPath, snmpd.conf: bpfbridgeBTF)",
					 cfg->object_path, errno_text(btf_err));
				return ret;
			}
			char hint[160];

			bb_caps_hint(ret, bb_caps_for_load(), hint, sizeof(hint));
			snprintf(err, errlen, "%s: loading failed: %s%s%s%s", cfg->object_path,
				 cap.msg[0] ? cap.msg : errno_text(ret),
				 cap.verifier_tail[0] ? ": " : "", cap.verifier_tail, hint);
			return ret;
		}
		{
			struct prog *pr = &ld->progs[bad];
			char hint[160];

			pr->load_failed = true;
			pr->load_err = ret;
			bb_caps_hint(ret, caps_needed(&pr->si), hint, sizeof(hint));
			fmt(pr->load_reason, sizeof(pr->load_reason), "load failed: %s (%s)%s%s%s",
			    errno_name(ret), errno_text(ret), cap.verifier_tail[0] ? ": " : "",
			    cap.verifier_tail, hint);
			if (pr->hook >= 0) {
				ld->hooks[pr->hook].alt_bad[pr->alt] = true;
				bb_warn("%s: program %s (hook %s) failed to load, trying the next "
					"alternative: %s",
					cfg->name, pr->name, ld->hooks[pr->hook].conf->name,
					pr->load_reason);
			} else {
				bb_warn("%s: program %s failed to load; loading the others without "
					"it: %s",
					cfg->name, pr->name, pr->load_reason);
			}
		}
		bpf_object__close(ld->obj);
		ld->obj = NULL;
	}
}

int bb_loader_online_cpus(bool **mask, int *n)
{
	char buf[4096];
	int ncpu = libbpf_num_possible_cpus();
	FILE *f;
	char *p;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	/* opened only now: no FILE to leak above, and fopen's errno is the one returned */
	f = fopen("/sys/devices/system/cpu/online", "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*mask = calloc((size_t)ncpu, sizeof(bool));
	if (!*mask)
		return -ENOMEM;
	*n = ncpu;
	for (p = buf; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a;

		if (end == p)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && c < ncpu; c++)
			if (c >= 0)
				(*mask)[c] = true;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* Open PR's perf event (ATTR) on CPU and attach P to it, as links[n_links];
 * room for one link per possible CPU is there. */
static int attach_perf_cpu(struct prog *pr, struct bpf_program *p, struct perf_event_attr *attr,
			   int cpu)
{
	struct bpf_link *link;
	int fd = perf_event_open(attr, cpu), ret;

	if (fd < 0)
		return -errno;
	link = bpf_program__attach_perf_event(p, fd);
	if (!link) {
		ret = errno ? -errno : -EINVAL;
		close(fd);
		return ret;
	}
	pr->plinks[pr->n_links] = (struct perf_link){ .cpu = cpu, .fd = fd };
	pr->links[pr->n_links++] = link;
	return 0;
}

/* The perf event attribute of PR's section, with the enabled time readable
 * (how bb_loader_follow_cpus() sees an event the kernel switched off). */
static int perf_attr(struct prog *pr, struct perf_event_attr *attr)
{
	char why[160];
	int ret = parse_perf_event(pr->si.target, attr, why, sizeof(why));

	if (ret)
		set_reason(pr->attach_reason, sizeof(pr->attach_reason), &pr->si, ret, why);
	attr->read_format = PERF_FORMAT_TOTAL_TIME_ENABLED;
	return ret;
}

static int attach_perf_event(struct prog *pr, struct bpf_program *p)
{
	struct perf_event_attr attr;
	bool *online = NULL;
	int ncpu = 0, ret;

	ret = perf_attr(pr, &attr);
	if (ret)
		return ret;
	ret = bb_loader_online_cpus(&online, &ncpu);
	if (ret) {
		set_reason(pr->attach_reason, sizeof(pr->attach_reason), &pr->si, ret,
			   "cannot read the online CPUs");
		return ret;
	}
	pr->links = calloc((size_t)ncpu, sizeof(*pr->links));
	pr->plinks = calloc((size_t)ncpu, sizeof(*pr->plinks));
	pr->cpu_warned = calloc((size_t)ncpu, sizeof(*pr->cpu_warned));
	if (!pr->links || !pr->plinks || !pr->cpu_warned) {
		free(online);
		drop_links(pr);
		return -ENOMEM;
	}
	for (int c = 0; c < ncpu && !ret; c++)
		if (online[c])
			ret = attach_perf_cpu(pr, p, &attr, c);
	free(online);
	if (ret) {
		set_reason(pr->attach_reason, sizeof(pr->attach_reason), &pr->si, ret, NULL);
		drop_links(pr);
	}
	return ret;
}

/* Whether PL's event still samples: its enabled time moved since the last
 * check. The kernel switches a CPU's events off when the CPU goes offline,
 * and does not switch them on when it comes back. Unreadable: kept. */
static bool perf_link_alive(struct perf_link *pl)
{
	uint64_t rf[2]; /* value, time enabled */
	bool alive;

	if (read(pl->fd, rf, sizeof(rf)) != (ssize_t)sizeof(rf))
		return true;
	alive = rf[1] != pl->enabled;
	pl->enabled = rf[1];
	return alive;
}

/* PR's events, after CPU hotplug: ONLINE (NCPU entries) is consumed. Returns
 * how many online CPUs are left without an event. */
static int follow_prog_cpus(struct bb_loader *ld, struct prog *pr, bool *online, int ncpu)
{
	struct bpf_program *p = ld->obj ? bpf_object__find_program_by_name(ld->obj, pr->name)
					: NULL;
	struct perf_event_attr attr;
	int missing = 0;

	for (size_t k = 0; k < pr->n_links;) {
		struct perf_link *pl = &pr->plinks[k];
		int cpu = pl->cpu;

		if (online[cpu] && perf_link_alive(pl)) {
			online[cpu] = false; /* has its event */
			k++;
			continue;
		}
		bb_info("config %s: program %s: CPU %d %s; its perf event is closed", ld->cfg->name,
			pr->name, cpu,
			online[cpu] ? "was offline since the last read" : "went offline");
		bpf_link__destroy(pr->links[k]);
		pr->links[k] = pr->links[pr->n_links - 1];
		pr->plinks[k] = pr->plinks[pr->n_links - 1];
		pr->n_links--;
	}
	if (!p || perf_attr(pr, &attr))
		return 0;
	for (int c = 0; c < ncpu; c++) {
		int ret;

		if (!online[c])
			continue;
		ret = attach_perf_cpu(pr, p, &attr, c);
		if (ret) {
			missing++;
			if (!pr->cpu_warned[c])
				bb_warn("config %s: program %s: CPU %d is online, but its perf "
					"event "
					"cannot be attached: %s; retried at every read",
					ld->cfg->name, pr->name, c, errno_text(ret));
			pr->cpu_warned[c] = true;
			continue;
		}
		bb_info("config %s: program %s: CPU %d came online; sampling it", ld->cfg->name,
			pr->name, c);
		pr->cpu_warned[c] = false;
	}
	return missing;
}

int bb_loader_follow_cpus(struct bb_loader *ld)
{
	bool *online = NULL, *want = NULL;
	int ncpu = 0, ret, missing = 0;

	if (!ld)
		return 0;
	for (size_t i = 0; i < ld->n_progs; i++) {
		struct prog *pr = &ld->progs[i];

		if (pr->si.kind != AK_PERF_EVENT || !pr->plinks)
			continue;
		if (!online) {
			ret = bb_loader_online_cpus(&online, &ncpu);
			if (ret)
				return ret;
			want = malloc((size_t)ncpu * sizeof(*want));
			if (!want) {
				free(online);
				return -ENOMEM;
			}
		}
		memcpy(want, online, (size_t)ncpu * sizeof(*want));
		missing += follow_prog_cpus(ld, pr, want, ncpu);
	}
	free(want);
	free(online);
	return missing;
}

/* PR's one link is LINK; on failure LINK is destroyed. */
static int keep_one_link(struct prog *pr, struct bpf_link *link)
{
	pr->links = calloc(1, sizeof(*pr->links));
	if (!pr->links) {
		bpf_link__destroy(link);
		return -ENOMEM;
	}
	pr->links[0] = link;
	pr->n_links = 1;
	return 0;
}

static int attach_xdp_ifname(struct prog *pr, struct bpf_program *p)
{
	unsigned ifindex;
	struct bpf_link *link;
	int ret = probe_xdp_ifname(&pr->si, pr->attach_reason, sizeof(pr->attach_reason));

	if (ret)
		return ret;
	ifindex = if_nametoindex(pr->si.target);
	link = ifindex ? bpf_program__attach_xdp(p, (int)ifindex) : NULL;
	if (!link) {
		ret = errno ? -errno : -ENODEV;
		set_reason(pr->attach_reason, sizeof(pr->attach_reason), &pr->si, ret, NULL);
		return ret;
	}
	return keep_one_link(pr, link);
}

/* ebpf_exporter calls this after attaching, so that a uprobe on it
 * (SEC("uprobe//proc/self/exe:post_attach_mark")) runs initialization code.
 * noinline and the asm keep the call and the function's own code. */
__attribute__((noinline, used)) void post_attach_mark(void)
{
	__asm__ __volatile__("" ::: "memory");
}

/* The file and file offset that hold post_attach_mark() in this process: the
 * CLI, collectd's ebpf.so or snmpd's module, whichever linked the core. */
static int own_mark_location(char *path, size_t len, size_t *offset)
{
	uintptr_t addr = (uintptr_t)&post_attach_mark;
	char line[PATH_MAX + 128];
	FILE *f = fopen("/proc/self/maps", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end, off;
		char perms[8];
		int pos = 0;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &pos) <
			    4 ||
		    !pos)
			continue;
		if (addr < start || addr >= end || line[pos] != '/')
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, len, "%s", line + pos);
		*offset = (size_t)(addr - start + off);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static int attach_post_attach_mark(struct prog *pr, struct bpf_program *p)
{
	char path[PATH_MAX];
	size_t offset = 0;
	struct bpf_link *link;
	int ret = own_mark_location(path, sizeof(path), &offset);

	if (ret) {
		set_reason(pr->attach_reason, sizeof(pr->attach_reason), &pr->si, ret,
			   "cannot find post_attach_mark in /proc/self/maps");
		return ret;
	}
	/* this process only: another agent's post_attach_mark() is not ours */
	link = bpf_program__attach_uprobe(p, false, getpid(), path, offset);
	if (!link) {
		ret = errno ? -errno : -EINVAL;
		set_reason(pr->attach_reason, sizeof(pr->attach_reason), &pr->si, ret, NULL);
		return ret;
	}
	return keep_one_link(pr, link);
}

/* Run the post_attach_mark programs once, then detach them: a later config's
 * call must not run this config's initialization again. They stay reported
 * as attached, since they did their one job. */
static void run_post_attach_mark(struct bb_loader *ld)
{
	bool any = false;

	for (size_t i = 0; i < ld->n_progs; i++)
		any |= ld->progs[i].post_attach && ld->progs[i].n_links;
	if (!any)
		return;
	post_attach_mark();
	for (size_t i = 0; i < ld->n_progs; i++) {
		struct prog *pr = &ld->progs[i];

		if (!pr->post_attach || !pr->n_links)
			continue;
		bpf_link__destroy(pr->links[0]);
		pr->n_links = 0;
		pr->post_attach_ran = true;
	}
}

static void attach_all(struct bb_loader *ld)
{
	struct bpf_program *p;
	size_t i = 0;

	bpf_object__for_each_program (p, ld->obj) {
		struct prog *pr = i < ld->n_progs ? &ld->progs[i] : NULL;
		struct bpf_link *link;

		i++;
		if (!pr || !prog_wanted(ld, pr))
			continue;
		if (pr->si.kind == AK_TRACEPOINT || pr->si.kind == AK_KPROBE ||
		    pr->si.kind == AK_KSYSCALL)
			(void)tracefs(); /* libbpf reads event ids from it */
		if (pr->si.kind == AK_PERF_EVENT) {
			pr->attach_err = attach_perf_event(pr, p);
			continue;
		}
		if (pr->si.kind == AK_XDP_IFNAME) {
			pr->attach_err = attach_xdp_ifname(pr, p);
			continue;
		}
		if (pr->post_attach) {
			if (pr->post_attach_ran)
				continue; /* a re-attach after a failed reload: it ran once */
			pr->attach_err = attach_post_attach_mark(pr, p);
			continue;
		}
		link = bpf_program__attach(p);
		if (!link) {
			int e = errno ? -errno : -EINVAL;

			pr->attach_err = e;
			/* A program outside any hook was not probed before load: ask the
			 * probe why, which names the cause (no kprobes, no such function)
			 * in the same words a hook's alternative would. */
			probe_program(pr);
			if (pr->probe_err) {
				pr->attach_err = pr->probe_err;
				snprintf(pr->attach_reason, sizeof(pr->attach_reason), "%s",
					 pr->probe_reason);
			} else if (e == -EOPNOTSUPP || e == -ESRCH)
				set_reason(
					pr->attach_reason, sizeof(pr->attach_reason), &pr->si, e,
					"attach failed: the section does not say where to attach");
			else
				set_reason(pr->attach_reason, sizeof(pr->attach_reason), &pr->si, e,
					   NULL);
			continue;
		}
		pr->attach_err = keep_one_link(pr, link);
		if (pr->attach_err)
			set_reason(pr->attach_reason, sizeof(pr->attach_reason), &pr->si,
				   pr->attach_err, NULL);
	}
}

/* Why a program of HOOK's alternative ALT is not in use. */
static void skipped_reason(const struct bb_loader *ld, const struct prog *pr, char *out, size_t len)
{
	const struct hook *hk = &ld->hooks[pr->hook];
	const struct bb_alternative *alt = &hk->conf->alternatives[pr->alt];

	if (pr->load_failed) {
		snprintf(out, len, "%s", pr->load_reason);
		return;
	}
	if (pr->probed && pr->probe_err) {
		snprintf(out, len, "%s", pr->probe_reason);
		return;
	}
	if (hk->alt_bad[pr->alt]) {
		/* this program was fine; a sibling in its alternative was not */
		for (size_t k = 0; k < alt->n_programs; k++) {
			const struct prog *sib = &ld->progs[prog_index(ld, alt->programs[k])];

			if (sib != pr && (sib->load_failed || (sib->probed && sib->probe_err))) {
				snprintf(out, len, "alternative unusable: %s",
					 sib->load_failed ? sib->load_reason : sib->probe_reason);
				return;
			}
		}
	}
	if (hk->chosen >= 0) {
		const struct bb_alternative *win = &hk->conf->alternatives[hk->chosen];

		snprintf(out, len, "not needed: hook %s uses alternative %d (%s%s)", hk->conf->name,
			 hk->chosen, win->programs[0], win->n_programs > 1 ? ", ..." : "");
		return;
	}
	snprintf(out, len, "not used");
}

static int build_status(struct bb_loader *ld)
{
	ld->status = calloc(ld->n_progs ? ld->n_progs : 1, sizeof(*ld->status));
	if (!ld->status)
		return -ENOMEM;
	for (size_t i = 0; i < ld->n_progs; i++) {
		struct prog *pr = &ld->progs[i];
		struct bb_program_status *st = &ld->status[i];
		char reason[REASON_MAX * 2] = "";

		st->name = strdup(pr->name);
		st->section = strdup(pr->section);
		st->hook = strdup(pr->hook >= 0 ? ld->hooks[pr->hook].conf->name : pr->section);
		if (!st->name || !st->section || !st->hook)
			return -ENOMEM;
		st->alternative = pr->alt;
		if (pr->hook >= 0 && ld->hooks[pr->hook].chosen != pr->alt) {
			st->state = BB_PROG_SKIPPED;
			st->error = pr->load_failed ? pr->load_err
				    : pr->probe_err ? pr->probe_err
						    : -ENOENT;
			skipped_reason(ld, pr, reason, sizeof(reason));
		} else if (pr->load_failed) {
			st->state = BB_PROG_FAILED;
			st->error = pr->load_err;
			snprintf(reason, sizeof(reason), "%s", pr->load_reason);
		} else if (!prog_wanted(ld, pr)) {
			st->state = BB_PROG_SKIPPED;
			st->error = -ENOENT;
			snprintf(reason, sizeof(reason),
				 "not loaded: the object turns autoload off (SEC(\"?...\"))");
		} else if (pr->attach_err || (pr->n_links == 0 && !pr->post_attach_ran)) {
			st->state = BB_PROG_FAILED;
			st->error = pr->attach_err ? pr->attach_err : -ENOENT;
			snprintf(reason, sizeof(reason), "%s", pr->attach_reason);
		} else {
			st->state = BB_PROG_ATTACHED;
		}
		if (st->state != BB_PROG_ATTACHED && !(st->reason = strdup(reason)))
			return -ENOMEM;
	}
	return 0;
}

/* Warn about what did not attach; in strict mode, fail on the first such. */
static int report(struct bb_loader *ld, char *err, size_t errlen)
{
	const struct bb_config *cfg = ld->cfg;
	int ret = 0;

	for (size_t h = 0; h < ld->n_hooks; h++) {
		const struct hook *hk = &ld->hooks[h];
		char why[REASON_MAX * 2] = "";
		size_t used = 0;

		if (hk->chosen >= 0) {
			if (hk->chosen > 0)
				bb_info("%s: hook %s: using alternative %d (%s)", cfg->name,
					hk->conf->name, hk->chosen,
					hk->conf->alternatives[hk->chosen].programs[0]);
			continue;
		}
		for (size_t i = 0; i < ld->n_progs && used < sizeof(why); i++) {
			if (ld->progs[i].hook == (int)h && ld->status[i].reason)
				used += snprintf(why + used, sizeof(why) - used, "%s%s",
						 used ? "; " : "", ld->status[i].reason);
		}
		if (ld->opts.strict && !ret) {
			snprintf(err, errlen, "%s:%d:%d: hooks: %s: no alternative can attach (%s)",
				 cfg->yaml_path, hk->conf->pos.line, hk->conf->pos.column,
				 hk->conf->name, why);
			ret = -ENOENT;
		}
		bb_warn("%s: hook %s: no alternative can attach (%s)", cfg->name, hk->conf->name,
			why);
	}
	for (size_t i = 0; i < ld->n_progs; i++) {
		const struct bb_program_status *st = &ld->status[i];

		if (st->state != BB_PROG_FAILED)
			continue;
		if (ld->opts.strict && !ret) {
			snprintf(err, errlen, "%s: strict: program %s (%s) did not attach: %s",
				 cfg->object_path, st->name, st->section, st->reason);
			ret = st->error ? st->error : -EINVAL;
		}
		bb_warn("%s: program %s (%s) did not attach: %s", cfg->name, st->name, st->section,
			st->reason);
	}
	return ret;
}

/* perf_event_array counters: consume each before any program can write to it. */
static int start_sinks(struct bb_loader *ld, char *err, size_t errlen)
{
	const struct bb_config *cfg = ld->cfg;

	ld->sinks = calloc(cfg->n_metrics ? cfg->n_metrics : 1, sizeof(*ld->sinks));
	if (!ld->sinks) {
		snprintf(err, errlen, "%s: out of memory", cfg->object_path);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_metrics; i++) {
		const struct bb_metric_conf *m = &cfg->metrics[i];
		struct bpf_map *map;
		uint32_t max;
		int ret;

		if (!m->perf_event_array)
			continue;
		map = bpf_object__find_map_by_name(ld->obj, m->name);
		max = m->max_series		       ? m->max_series
		      : ld->opts.max_series_per_metric ? ld->opts.max_series_per_metric
						       : BB_DEFAULT_MAX_SERIES;
		ret = bb_perfsink_start(cfg->name, m, map ? bpf_map__fd(map) : -1, max,
					&ld->sinks[i], err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

void bb_loader_close(struct bb_loader *ld)
{
	if (!ld)
		return;
	for (size_t i = 0; i < ld->n_progs; i++) {
		struct prog *pr = &ld->progs[i];

		drop_links(pr);
		free(pr->name);
		free(pr->section);
		if (ld->status) {
			free(ld->status[i].name);
			free(ld->status[i].section);
			free(ld->status[i].hook);
			free(ld->status[i].reason);
		}
	}
	bb_cgroups_close(ld->cgroups);
	for (size_t i = 0; ld->sinks && i < ld->cfg->n_metrics; i++)
		bb_perfsink_stop(ld->sinks[i]);
	free(ld->sinks);
	bpf_object__close(ld->obj);
	for (size_t h = 0; h < ld->n_hooks; h++)
		free(ld->hooks[h].alt_bad);
	free(ld->hooks);
	free(ld->progs);
	free(ld->status);
	free(ld->obj_buf);
	free(ld->kaddrs);
	if (ld->btf_fd >= 0)
		close(ld->btf_fd);
	free(ld);
}

int bb_loader_open(const struct bb_config *cfg, const struct bb_options *opts,
		   struct bb_loader **out, char *err, size_t errlen)
{
	return bb_loader_reopen(cfg, opts, NULL, out, err, errlen);
}

int bb_loader_reopen(const struct bb_config *cfg, const struct bb_options *opts,
		     struct bb_loader *running, struct bb_loader **out, char *err, size_t errlen)
{
	struct bb_loader *ld;
	bool detached = false;
	int ret;

	*out = NULL;
	bb_loader_init_libbpf();
	ld = calloc(1, sizeof(*ld));
	if (!ld) {
		snprintf(err, errlen, "%s: out of memory", cfg->object_path);
		return -ENOMEM;
	}
	ld->cfg = cfg;
	ld->btf_fd = -1;
	ld->reuse = running;
	if (opts)
		ld->opts = *opts;
	tls_libbpf_debug = ld->opts.libbpf_debug;
	opens_enter();

	ret = bb_trust_read_file(cfg->object_path, ld->opts.skip_owner_check, &ld->obj_buf,
				 &ld->obj_len, err, errlen);
	if (ret == -ENOENT)
		fmt(err, errlen, "%s: no such file: config %s needs its BPF object next to it",
		    cfg->object_path, cfg->yaml_path);
	if (ret)
		goto fail;
	if (ld->opts.btf_path) {
		/* libbpf opens the BTF by name: give it the descriptor that was checked. */
		ld->btf_fd = bb_trust_open(ld->opts.btf_path, "BTF file", ld->opts.skip_owner_check,
					   err, errlen);
		if (ld->btf_fd < 0) {
			ret = ld->btf_fd;
			goto fail;
		}
		fmt(ld->btf_fd_path, sizeof(ld->btf_fd_path), "/proc/self/fd/%d", ld->btf_fd);
		ld->opts.btf_path = ld->btf_fd_path;
	}
	ret = load(ld, err, errlen);
	if (!ret)
		ret = start_sinks(ld, err, errlen);
	if (ret)
		goto fail;
	/* Filled before anything attaches, so no early event misses its cgroup. */
	if (cfg->cgroup_id_map) {
		ret = bb_cgroups_open(cfg, bb_loader_map(ld, cfg->cgroup_id_map->name),
				      &ld->cgroups, err, errlen);
		if (ret)
			goto fail;
	}
	if (ld->n_reused) {
		detach_links(running);
		detached = true;
	}
	attach_all(ld);
	run_post_attach_mark(ld);
	ret = build_status(ld);
	if (ret) {
		snprintf(err, errlen, "%s: out of memory", cfg->object_path);
		goto fail;
	}
	ret = report(ld, err, errlen);
	if (ret)
		goto fail;
	tls_libbpf_debug = false;
	opens_leave();
	ld->reuse = NULL;
	*out = ld;
	return 0;
fail:
	tls_libbpf_debug = false;
	opens_leave();
	bb_loader_close(ld);
	if (detached)
		attach_all(running); /* the running config keeps counting */
	return ret;
}

int bb_loader_prepare_mem(const struct bb_config *cfg, const void *obj, size_t len,
			  const uint64_t *kaddrs, char *err, size_t errlen)
{
	struct bb_loader *ld;
	int ret = -ENOMEM;

	if (errlen)
		err[0] = '\0';
	bb_loader_init_libbpf();
	ld = calloc(1, sizeof(*ld));
	if (!ld)
		goto nomem;
	ld->cfg = cfg;
	ld->btf_fd = -1;
	ld->obj_buf = malloc(len ? len : 1);
	if (!ld->obj_buf)
		goto nomem;
	memcpy(ld->obj_buf, obj, len);
	ld->obj_len = len;
	if (kaddrs && cfg->n_kaddrs) {
		ld->kaddrs = calloc(cfg->n_kaddrs, sizeof(*ld->kaddrs));
		if (!ld->kaddrs)
			goto nomem;
		memcpy(ld->kaddrs, kaddrs, cfg->n_kaddrs * sizeof(*ld->kaddrs));
	}
	opens_enter();
	ret = prepare(ld, 0, err, errlen);
	opens_leave();
	bb_loader_close(ld);
	return ret;
nomem:
	snprintf(err, errlen, "%s: out of memory", cfg->object_path);
	bb_loader_close(ld);
	return ret;
}

void bb_loader_hold(void)
{
	opens_enter();
}

void bb_loader_release(void)
{
	opens_leave();
}

size_t bb_loader_n_reused_maps(const struct bb_loader *ld)
{
	return ld ? ld->n_reused : 0;
}

size_t bb_loader_n_programs(const struct bb_loader *ld)
{
	return ld ? ld->n_progs : 0;
}

const struct bb_program_status *bb_loader_program(const struct bb_loader *ld, size_t i)
{
	return ld && i < ld->n_progs ? &ld->status[i] : NULL;
}

struct bpf_map *bb_loader_map(const struct bb_loader *ld, const char *name)
{
	return ld && ld->obj ? bpf_object__find_map_by_name(ld->obj, name) : NULL;
}

int bb_loader_metric_fd(const struct bb_loader *ld, size_t i)
{
	struct bpf_map *map;

	if (!ld || i >= ld->cfg->n_metrics)
		return -EINVAL;
	if (ld->sinks && ld->sinks[i])
		return bb_perfsink_map_fd(ld->sinks[i]);
	map = bb_loader_map(ld, ld->cfg->metrics[i].name);
	return map ? bpf_map__fd(map) : -ENOENT;
}
