/* SPDX-License-Identifier: MIT */
/*
 * Label decoders. Each decoder reads either the label's raw key bytes (first in
 * the chain) or the text of the previous decoder, and writes text into a
 * BB_LABEL_MAX buffer. Choices where ebpf_exporter leaves room:
 *
 * - Output longer than BB_LABEL_MAX-1 bytes is cut, never mid UTF-8 sequence
 *   and never mid escape sequence.
 * - string: bytes up to the first NUL. Printable ASCII and valid UTF-8 pass;
 *   a backslash becomes "\\" and any other byte "\xNN", so the text is always
 *   valid UTF-8 and the original bytes can be recovered. Text from a previous
 *   decoder passes unchanged. static_map and regexp read raw bytes the same way.
 * - Number-taking decoders read 1, 2, 4 or 8 bytes in host byte order (what the
 *   BPF program wrote), or the decimal text of a previous "uint".
 * - Fallback texts: ksym "0x<hex>", syscall "unknown_syscall:<nr>", errno
 *   "unknown:<nr>" (0 decodes to "0"), majorminor "<major>:<minor>", ifname
 *   "ifindex<N>", cgroup "unknown_cgroup_id:<id>", pci_* "unknown pci ...: 0x..".
 * - errno also accepts negative errnos (-EINVAL) stored as signed integers.
 * - cgroup: the path relative to the cgroup v2 root ("/" for the root,
 *   "/system.slice/foo.service"), as in /proc/PID/cgroup.
 * - dname: RFC 1035 presentation format without the final dot ("." for the
 *   root); "." and "\" inside a label are escaped with "\", other
 *   non-printable bytes as "\DDD". Compression pointers are an error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "log.h"
#include "syscalls_table.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

/* A lookup that misses re-reads /proc/partitions or rewalks the cgroup tree at
 * most this often; a failed load of kallsyms or pci.ids is retried as often. */
#define REFRESH_MS_DEFAULT 1000
/* Room for one decoder's output; the final label is cut to BB_LABEL_MAX - 1
 * bytes with a hash suffix (bb_label_escape). */
#define STEP_MAX 4096
#define CGROUP_MAX_DEPTH 64

#define DEFAULT_KALLSYMS "/proc/kallsyms"
#define DEFAULT_PARTITIONS "/proc/partitions"
#define DEFAULT_CGROUP_ROOT "/sys/fs/cgroup"
static const char *const default_pci_ids[] = { "/usr/share/misc/pci.ids",
					       "/usr/share/hwdata/pci.ids" };

/* For tests: how long a cache is trusted after a miss (see REFRESH_MS_DEFAULT). */

struct ksym {
	uint64_t addr;
	uint32_t name_off;
	uint32_t seq; /* file order, so equal addresses sort deterministically */
};

struct partition {
	unsigned major;
	unsigned minor;
	char *name;
};

struct cgroup_ent {
	uint64_t id;
	char *path;
};

struct pci_name {
	uint32_t key;
	const char *name; /* points into pci_db.text */
};

struct pci_array {
	struct pci_name *v;
	size_t n, cap;
};

struct bb_decode_ctx {
	pthread_mutex_t lock;
	char *kallsyms_path;
	char *partitions_path;
	char *cgroup_root;
	char *pci_ids_path; /* NULL: search default_pci_ids */
	unsigned refresh_ms;

	struct ksym *ksyms;
	size_t n_ksyms;
	char *ksym_names;
	bool ksyms_loaded;
	uint64_t ksyms_loaded_at;
	uint64_t ksyms_failed_at;
	char ksyms_error[BB_ERRMSG_MAX];

	struct partition *parts;
	size_t n_parts;
	uint64_t parts_loaded_at; /* 0: never */

	struct cgroup_ent *cgroups;
	size_t n_cgroups;
	uint64_t cgroups_loaded_at;

	char *pci_text;
	struct pci_array pci_vendors;	 /* key: vendor */
	struct pci_array pci_devices;	 /* key: vendor << 16 | device */
	struct pci_array pci_classes;	 /* key: class */
	struct pci_array pci_subclasses; /* key: class << 8 | subclass */
	bool pci_loaded;
	uint64_t pci_failed_at;
	char pci_error[BB_ERRMSG_MAX];
};

/* What bb_decoder_prepare() compiles into dec->priv. */
struct prepared {
	regex_t *regexps;
	size_t n_regexps;
	const struct bb_static_entry **sorted; /* static_map, sorted by key */
	size_t n_sorted;
};

/* One decoder's view of its input and output. */
struct step {
	struct bb_decode_ctx *ctx;
	const struct bb_decoder_conf *dec;
	const char *name;
	const uint8_t *in;
	size_t inlen;
	bool raw;	  /* in is the label's key bytes, not text */
	char *out;	  /* STEP_MAX bytes */
	bool provisional; /* a fallback text: a later decode may know better */
	char *err;
	size_t errlen;
};

typedef enum bb_decode_status (*decode_fn)(struct step *s);

/* ---- small helpers ---------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* +1 so that 0 can mean "never" */
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
}

/* Errors are one line: a quoted value (kstack's frames, a string key) may hold
 * control characters, shown as '?' (found by tests/fuzz/fuzz_decode). */
static void one_line(char *err)
{
	for (; *err; err++)
		if ((unsigned char)*err < 0x20 || *err == 0x7f)
			*err = '?';
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	one_line(err);
}

__attribute__((format(printf, 2, 3))) static enum bb_decode_status fail(struct step *s,
									const char *fmt, ...)
{
	va_list ap;

	s->out[0] = '\0';
	if (s->err && s->errlen) {
		va_start(ap, fmt);
		vsnprintf(s->err, s->errlen, fmt, ap);
		va_end(ap);
		one_line(s->err);
	}
	return BB_DECODE_ERROR;
}

/* Length of the valid UTF-8 multi-byte sequence at p (at most n bytes), or 0. */
static size_t utf8_seq_len(const uint8_t *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Copy at most cap-1 bytes of s into out, not cutting a UTF-8 sequence. */
static void copy_text(char *out, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (cap == 0)
		return;
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80)
			n--;
	}
	memmove(out, s, n);
	out[n] = '\0';
}

/* Bounded output buffer: appends that do not fit whole are refused. */
struct sbuf {
	char *p;
	size_t cap;
	size_t len;
	bool full; /* an append failed: refuse all later ones, so nothing is skipped */
};

static void sb_init(struct sbuf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = cap;
	b->len = 0;
	b->full = false;
	p[0] = '\0';
}

static bool sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->full || b->len + n + 1 > b->cap) {
		b->full = true;
		return false;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

/* Append as much of s as fits (whole UTF-8 sequences); false if cut. */
static bool sb_puts_cut(struct sbuf *b, const char *s)
{
	size_t room = b->cap - b->len;
	size_t n = strlen(s);

	if (b->full)
		return false;
	copy_text(b->p + b->len, room, s);
	b->len += strlen(b->p + b->len);
	if (n >= room)
		b->full = true;
	return !b->full;
}

/*
 * Bytes up to the first NUL as text (see the file comment). Stops before an
 * escape or UTF-8 sequence that would not fit.
 */

/* The step's input as text: raw bytes are escaped, text is used as is. */
/* The step's input as text: raw key bytes up to the first NUL, as they are
 * (the chain's last step makes the final text valid UTF-8). */
static const char *input_text(struct step *s, char *tmp, size_t cap)
{
	size_t n = 0;

	if (!s->raw)
		return (const char *)s->in;
	while (n < s->inlen && n + 1 < cap && s->in[n])
		n++;
	memcpy(tmp, s->in, n);
	tmp[n] = '\0';
	return tmp;
}

/*
 * The step's input as a number. *width is the raw size in bytes, or 0 for
 * decimal text.
 */
static bool input_number(struct step *s, uint64_t *v, size_t *width)
{
	const char *text;
	char *end;

	if (s->raw) {
		uint8_t u8;
		uint16_t u16;
		uint32_t u32;

		*width = s->inlen;
		switch (s->inlen) {
		case 1:
			memcpy(&u8, s->in, 1);
			*v = u8;
			return true;
		case 2:
			memcpy(&u16, s->in, 2);
			*v = u16;
			return true;
		case 4:
			memcpy(&u32, s->in, 4);
			*v = u32;
			return true;
		case 8:
			memcpy(v, s->in, 8);
			return true;
		}
		fail(s, "%s: size %zu not one of 1, 2, 4, 8", s->name, s->inlen);
		return false;
	}
	text = (const char *)s->in;
	*width = 0;
	if (text[0] < '0' || text[0] > '9')
		goto bad;
	errno = 0;
	*v = strtoull(text, &end, 10);
	if (errno || *end)
		goto bad;
	return true;
bad:
	fail(s, "%s: expected a decimal number from the previous decoder, got \"%.64s\"", s->name,
	     text);
	return false;
}

static bool need_raw(struct step *s, const char *what)
{
	if (s->raw)
		return true;
	fail(s, "%s: must be the first decoder of the label (it reads %s)", s->name, what);
	return false;
}

static bool need_ctx(struct step *s)
{
	if (s->ctx)
		return true;
	fail(s, "%s: no decode context", s->name);
	return false;
}

static enum bb_decode_status out_text(struct step *s, const char *text)
{
	copy_text(s->out, STEP_MAX, text);
	return BB_DECODE_OK;
}

__attribute__((format(printf, 2, 3))) static enum bb_decode_status out_fmt(struct step *s,
									   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->out, STEP_MAX, fmt, ap);
	va_end(ap);
	return BB_DECODE_OK;
}

/* Grow *arr (of *cap elements of size sz) to hold n+1; false on overflow/ENOMEM. */
static bool grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 64;
	if (ncap > SIZE_MAX / sz)
		return false;
	p = realloc(*arr, ncap * sz);
	if (!p)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

/* ---- kallsyms ------------------------------------------------------------ */

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void ksyms_clear(struct bb_decode_ctx *ctx)
{
	free(ctx->ksyms);
	free(ctx->ksym_names);
	ctx->ksyms = NULL;
	ctx->ksym_names = NULL;
	ctx->n_ksyms = 0;
	ctx->ksyms_loaded = false;
}

static bool ksyms_parse(struct bb_decode_ctx *ctx, FILE *f)
{
	size_t cap = 0, names_len = 0, names_cap = 0, zero = 0;
	char *line = NULL;
	size_t linecap = 0;
	bool ok = true;

	while (getline(&line, &linecap, f) > 0) {
		unsigned long long addr;
		char *end, *name, type;
		size_t len;

		addr = strtoull(line, &end, 16);
		if (end == line || *end != ' ' || !end[1] || end[2] != ' ')
			continue;
		type = end[1];
		name = end + 3;
		len = strcspn(name, " \t\r\n");
		/* Absolute and undefined symbols are not code or data locations. */
		if (len == 0 || type == 'a' || type == 'A' || type == 'U')
			continue;
		if (addr == 0) {
			zero++;
			continue;
		}
		if (!grow((void **)&ctx->ksyms, &cap, ctx->n_ksyms, sizeof(*ctx->ksyms)) ||
		    names_len + len + 1 > UINT32_MAX) {
			ok = false;
			break;
		}
		while (names_len + len + 1 > names_cap) {
			size_t ncap = names_cap ? names_cap * 2 : 1 << 20;
			char *p = realloc(ctx->ksym_names, ncap);

			if (!p) {
				ok = false;
				goto out;
			}
			ctx->ksym_names = p;
			names_cap = ncap;
		}
		memcpy(ctx->ksym_names + names_len, name, len);
		ctx->ksym_names[names_len + len] = '\0';
		ctx->ksyms[ctx->n_ksyms].addr = addr;
		ctx->ksyms[ctx->n_ksyms].name_off = (uint32_t)names_len;
		ctx->ksyms[ctx->n_ksyms].seq = (uint32_t)ctx->n_ksyms;
		ctx->n_ksyms++;
		names_len += len + 1;
	}
out:
	free(line);
	if (!ok) {
		snprintf(ctx->ksyms_error, sizeof(ctx->ksyms_error),
			 "ksym: out of memory reading %s", ctx->kallsyms_path);
		return false;
	}
	if (ctx->n_ksyms == 0) {
		if (zero)
			snprintf(ctx->ksyms_error, sizeof(ctx->ksyms_error),
				 "ksym: %s shows only zero addresses (hidden by "
				 "kernel.kptr_restrict; "
				 "needs root or CAP_SYSLOG)",
				 ctx->kallsyms_path);
		else
			snprintf(ctx->ksyms_error, sizeof(ctx->ksyms_error),
				 "ksym: no symbols in %s", ctx->kallsyms_path);
		return false;
	}
	qsort(ctx->ksyms, ctx->n_ksyms, sizeof(*ctx->ksyms), ksym_cmp);
	return true;
}

/* Load kallsyms once; on failure *err says why and the load is retried later. */
static bool ksyms_ready(struct bb_decode_ctx *ctx, char *err, size_t errlen)
{
	uint64_t now;
	FILE *f;
	bool ok;

	if (ctx->ksyms_loaded)
		return true;
	now = now_ms();
	if (ctx->ksyms_failed_at && now - ctx->ksyms_failed_at < ctx->refresh_ms) {
		set_err(err, errlen, "%s", ctx->ksyms_error);
		return false;
	}
	f = fopen(ctx->kallsyms_path, "re");
	if (!f) {
		snprintf(ctx->ksyms_error, sizeof(ctx->ksyms_error), "ksym: cannot open %s: %s",
			 ctx->kallsyms_path, bb_strerror(errno));
		ok = false;
	} else {
		ok = ksyms_parse(ctx, f);
		fclose(f);
	}
	if (!ok) {
		ksyms_clear(ctx);
		ctx->ksyms_failed_at = now;
		set_err(err, errlen, "%s", ctx->ksyms_error);
		return false;
	}
	ctx->ksyms_loaded = true;
	ctx->ksyms_loaded_at = now;
	return true;
}

/* Name of the nearest symbol at or below addr, or NULL. Caller holds the lock. */
static const char *ksym_lookup(struct bb_decode_ctx *ctx, uint64_t addr)
{
	size_t lo = 0, hi = ctx->n_ksyms;

	/* first index whose address is above addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ctx->ksyms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	lo--;
	while (lo > 0 && ctx->ksyms[lo - 1].addr == ctx->ksyms[lo].addr)
		lo--;
	return ctx->ksym_names + ctx->ksyms[lo].name_off;
}

/* ---- /proc/partitions ---------------------------------------------------- */

static void parts_clear(struct bb_decode_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->n_parts; i++)
		free(ctx->parts[i].name);
	free(ctx->parts);
	ctx->parts = NULL;
	ctx->n_parts = 0;
}

static void parts_load(struct bb_decode_ctx *ctx)
{
	struct partition *parts = NULL;
	size_t n = 0, cap = 0;
	char *line = NULL;
	size_t linecap = 0;
	FILE *f;

	ctx->parts_loaded_at = now_ms();
	f = fopen(ctx->partitions_path, "re");
	if (!f) {
		bb_warn("majorminor: cannot open %s: %s", ctx->partitions_path, bb_strerror(errno));
		return;
	}
	while (getline(&line, &linecap, f) > 0) {
		unsigned major, minor;
		unsigned long long blocks;
		char name[128];

		if (sscanf(line, "%u %u %llu %127s", &major, &minor, &blocks, name) != 4)
			continue;
		if (!grow((void **)&parts, &cap, n, sizeof(*parts)))
			break;
		parts[n].name = strdup(name);
		if (!parts[n].name)
			break;
		parts[n].major = major;
		parts[n].minor = minor;
		n++;
	}
	free(line);
	fclose(f);
	parts_clear(ctx);
	ctx->parts = parts;
	ctx->n_parts = n;
}

static const char *parts_find(struct bb_decode_ctx *ctx, unsigned major, unsigned minor)
{
	size_t i;

	for (i = 0; i < ctx->n_parts; i++)
		if (ctx->parts[i].major == major && ctx->parts[i].minor == minor)
			return ctx->parts[i].name;
	return NULL;
}

/* ---- cgroup tree --------------------------------------------------------- */

struct cgroup_walk {
	struct cgroup_ent *v;
	size_t n, cap;
	bool oom;
};

static bool cgroup_add(struct cgroup_walk *w, uint64_t id, const char *path)
{
	if (!grow((void **)&w->v, &w->cap, w->n, sizeof(*w->v)))
		goto oom;
	w->v[w->n].path = strdup(path);
	if (!w->v[w->n].path)
		goto oom;
	w->v[w->n].id = id;
	w->n++;
	return true;
oom:
	w->oom = true;
	return false;
}

/* Record the directory open as dirfd (relative path rel, its stat st) and its children. */
static void cgroup_walk_dir(struct cgroup_walk *w, int fd, const struct stat *st, char *rel,
			    size_t rel_len, size_t rel_cap, int depth)
{
	struct dirent *de;
	DIR *d;

	if (!cgroup_add(w, st->st_ino, rel_len ? rel : "/") || depth >= CGROUP_MAX_DEPTH) {
		close(fd);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while (!w->oom && (de = readdir(d))) {
		struct stat cst;
		struct statfs sfs;
		size_t nlen = strlen(de->d_name);
		int cfd;

		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (rel_len + 1 + nlen + 1 > rel_cap)
			continue; /* deeper than PATH_MAX: cannot be named anyway */
		cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			continue;
		if (fstat(cfd, &cst) < 0) {
			close(cfd);
			continue;
		}
		/* A cgroup v1 hierarchy mounted below: its inode numbers are not v2 ids. */
		if (cst.st_dev != st->st_dev && fstatfs(cfd, &sfs) == 0 &&
		    sfs.f_type == CGROUP_SUPER_MAGIC) {
			close(cfd);
			continue;
		}
		rel[rel_len] = '/';
		memcpy(rel + rel_len + 1, de->d_name, nlen + 1);
		cgroup_walk_dir(w, cfd, &cst, rel, rel_len + 1 + nlen, rel_cap, depth + 1);
		rel[rel_len] = '\0';
	}
	closedir(d);
}

static int cgroup_cmp(const void *a, const void *b)
{
	const struct cgroup_ent *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void cgroups_clear(struct bb_decode_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->n_cgroups; i++)
		free(ctx->cgroups[i].path);
	free(ctx->cgroups);
	ctx->cgroups = NULL;
	ctx->n_cgroups = 0;
}

static bool is_cgroup2(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

static void cgroups_load(struct bb_decode_ctx *ctx)
{
	struct cgroup_walk w = { 0 };
	char root[4096];
	char *rel;
	struct stat st;
	int fd;
	size_t i;

	ctx->cgroups_loaded_at = now_ms();
	/* Hybrid hierarchy (systemd's "unified" layout): v2 lives below the root. */
	snprintf(root, sizeof(root), "%s/unified", ctx->cgroup_root);
	if (is_cgroup2(ctx->cgroup_root) || !is_cgroup2(root))
		snprintf(root, sizeof(root), "%s", ctx->cgroup_root);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		bb_warn("cgroup: cannot open %s: %s", root, bb_strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	rel = malloc(4096);
	if (!rel) {
		close(fd);
		return;
	}
	rel[0] = '\0';
	cgroup_walk_dir(&w, fd, &st, rel, 0, 4096, 0);
	free(rel);
	if (w.oom) {
		bb_warn("cgroup: out of memory walking %s", root);
		for (i = 0; i < w.n; i++)
			free(w.v[i].path);
		free(w.v);
		return;
	}
	qsort(w.v, w.n, sizeof(*w.v), cgroup_cmp);
	cgroups_clear(ctx);
	ctx->cgroups = w.v;
	ctx->n_cgroups = w.n;
}

static const char *cgroups_find(struct bb_decode_ctx *ctx, uint64_t id)
{
	struct cgroup_ent key = { .id = id }, *e;

	if (!ctx->n_cgroups)
		return NULL;
	e = bsearch(&key, ctx->cgroups, ctx->n_cgroups, sizeof(key), cgroup_cmp);
	return e ? e->path : NULL;
}

/* ---- pci.ids ------------------------------------------------------------- */

static int pci_cmp(const void *a, const void *b)
{
	const struct pci_name *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static bool pci_push(struct pci_array *a, uint32_t key, const char *name)
{
	if (!grow((void **)&a->v, &a->cap, a->n, sizeof(*a->v)))
		return false;
	a->v[a->n].key = key;
	a->v[a->n].name = name;
	a->n++;
	return true;
}

static void pci_clear(struct bb_decode_ctx *ctx)
{
	free(ctx->pci_text);
	ctx->pci_text = NULL;
	free(ctx->pci_vendors.v);
	free(ctx->pci_devices.v);
	free(ctx->pci_classes.v);
	free(ctx->pci_subclasses.v);
	memset(&ctx->pci_vendors, 0, sizeof(ctx->pci_vendors));
	memset(&ctx->pci_devices, 0, sizeof(ctx->pci_devices));
	memset(&ctx->pci_classes, 0, sizeof(ctx->pci_classes));
	memset(&ctx->pci_subclasses, 0, sizeof(ctx->pci_subclasses));
	ctx->pci_loaded = false;
}

/* Parse "<ndigits hex>  name" at p; on success *id and *name (NUL-terminated in place). */
static bool pci_entry(char *p, int ndigits, uint32_t *id, const char **name)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < ndigits; i++) {
		char c = p[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v << 4 | (uint32_t)(c - 'A' + 10);
		else
			return false;
	}
	p += ndigits;
	if (*p != ' ' && *p != '\t')
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return false;
	*id = v;
	*name = p;
	return true;
}

static bool pci_parse(struct bb_decode_ctx *ctx)
{
	enum { NONE, VENDOR, CLASS } section = NONE;
	uint32_t vendor = 0, cls = 0, id;
	const char *name;
	char *line, *next;

	for (line = ctx->pci_text; line; line = next) {
		size_t len;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		len = strlen(line);
		while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		if (line[0] == 'C' && line[1] == ' ') {
			section = NONE;
			if (pci_entry(line + 2, 2, &id, &name)) {
				section = CLASS;
				cls = id;
				if (!pci_push(&ctx->pci_classes, id, name))
					return false;
			}
		} else if (line[0] != '\t') {
			section = NONE;
			/* other sections (e.g. "D ..." device types) use a letter prefix */
			if (pci_entry(line, 4, &id, &name)) {
				section = VENDOR;
				vendor = id;
				if (!pci_push(&ctx->pci_vendors, id, name))
					return false;
			}
		} else if (line[1] != '\t') {
			if (section == VENDOR && pci_entry(line + 1, 4, &id, &name)) {
				if (!pci_push(&ctx->pci_devices, vendor << 16 | id, name))
					return false;
			} else if (section == CLASS && pci_entry(line + 1, 2, &id, &name)) {
				if (!pci_push(&ctx->pci_subclasses, cls << 8 | id, name))
					return false;
			}
		}
		/* two tabs: subsystems and programming interfaces, not decoded */
	}
	qsort(ctx->pci_vendors.v, ctx->pci_vendors.n, sizeof(struct pci_name), pci_cmp);
	qsort(ctx->pci_devices.v, ctx->pci_devices.n, sizeof(struct pci_name), pci_cmp);
	qsort(ctx->pci_classes.v, ctx->pci_classes.n, sizeof(struct pci_name), pci_cmp);
	qsort(ctx->pci_subclasses.v, ctx->pci_subclasses.n, sizeof(struct pci_name), pci_cmp);
	return true;
}

static char *read_file(const char *path, int *errnum)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *p;
	FILE *f = fopen(path, "re");

	if (!f) {
		*errnum = errno;
		return NULL;
	}
	for (;;) {
		size_t got;

		if (cap - len < 65536) {
			if (cap > SIZE_MAX / 2 - 65536 || !(p = realloc(buf, cap * 2 + 65536))) {
				*errnum = ENOMEM;
				goto fail;
			}
			buf = p;
			cap = cap * 2 + 65536;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		*errnum = EIO;
		goto fail;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

static bool pci_ready(struct bb_decode_ctx *ctx, const char *decoder, char *err, size_t errlen)
{
	char looked[1024] = "";
	uint64_t now;
	size_t i, n;
	int errnum = ENOENT;

	if (ctx->pci_loaded)
		return true;
	now = now_ms();
	if (!(ctx->pci_failed_at && now - ctx->pci_failed_at < ctx->refresh_ms)) {
		const char *const *paths = ctx->pci_ids_path
						   ? (const char *const *)&ctx->pci_ids_path
						   : default_pci_ids;

		n = ctx->pci_ids_path ? 1 : sizeof(default_pci_ids) / sizeof(default_pci_ids[0]);
		for (i = 0; i < n && !ctx->pci_text; i++) {
			size_t used = strlen(looked);

			snprintf(looked + used, sizeof(looked) - used, "%s%s", i ? ", " : "",
				 paths[i]);
			ctx->pci_text = read_file(paths[i], &errnum);
			if (!ctx->pci_text && errnum != ENOENT) {
				snprintf(ctx->pci_error, sizeof(ctx->pci_error),
					 "cannot read %s: %s", paths[i], bb_strerror(errnum));
				break;
			}
		}
		if (ctx->pci_text && pci_parse(ctx)) {
			ctx->pci_loaded = true;
			return true;
		}
		if (ctx->pci_text)
			snprintf(ctx->pci_error, sizeof(ctx->pci_error),
				 "out of memory parsing %.400s", looked);
		else if (errnum == ENOENT)
			snprintf(ctx->pci_error, sizeof(ctx->pci_error),
				 "no pci.ids database found (looked in %.400s; apt-get install "
				 "pci.ids)",
				 looked);
		pci_clear(ctx);
		ctx->pci_failed_at = now;
	}
	set_err(err, errlen, "%s: %s", decoder, ctx->pci_error);
	return false;
}

static const char *pci_find(const struct pci_array *a, uint64_t key)
{
	struct pci_name k, *e;

	if (key > UINT32_MAX || !a->n)
		return NULL;
	k.key = (uint32_t)key;
	e = bsearch(&k, a->v, a->n, sizeof(k), pci_cmp);
	return e ? e->name : NULL;
}

/* ---- the decoders -------------------------------------------------------- */

static enum bb_decode_status dec_uint(struct step *s)
{
	uint64_t v;
	size_t width;

	if (!input_number(s, &v, &width))
		return BB_DECODE_ERROR;
	return out_fmt(s, "%" PRIu64, v);
}

static enum bb_decode_status dec_string(struct step *s)
{
	size_t n = 0;

	/* Bytes up to the first NUL, as they are: the chain's last step makes
	 * them valid UTF-8 (bb_label_escape). */
	if (s->raw) {
		while (n < s->inlen && n < STEP_MAX - 1 && s->in[n])
			n++;
		memcpy(s->out, s->in, n);
		s->out[n] = '\0';
	} else {
		copy_text(s->out, STEP_MAX, (const char *)s->in);
	}
	return BB_DECODE_OK;
}

static enum bb_decode_status dec_hex(struct step *s)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = s->raw ? s->inlen : strlen((const char *)s->in);
	size_t i;

	if (n > (STEP_MAX - 1) / 2)
		n = (STEP_MAX - 1) / 2;
	for (i = 0; i < n; i++) {
		s->out[2 * i] = digits[s->in[i] >> 4];
		s->out[2 * i + 1] = digits[s->in[i] & 0xf];
	}
	s->out[2 * n] = '\0';
	return BB_DECODE_OK;
}

static int static_key_cmp(const void *key, const void *elem)
{
	const struct bb_static_entry *const *e = elem;

	return strcmp(key, (*e)->key);
}

static enum bb_decode_status dec_static_map(struct step *s)
{
	const struct prepared *p = s->dec->priv;
	const struct bb_static_entry *const *hit;
	char tmp[BB_LABEL_MAX], shown[BB_LABEL_MAX];
	const char *text = input_text(s, tmp, sizeof(tmp));

	if (!p || !p->sorted)
		return fail(s, "static_map: decoder was not prepared");
	hit = bsearch(text, p->sorted, p->n_sorted, sizeof(*p->sorted), static_key_cmp);
	if (hit)
		return out_text(s, (*hit)->value);
	if (s->dec->allow_unknown)
		return out_text(s, text);
	bb_label_escape(text, shown, sizeof(shown));
	return fail(
		s,
		"static_map: no entry for \"%.64s\" (set allow_unknown: true to keep such values)",
		shown);
}

/*
 * ebpf_exporter's semantics: the first expression that matches (anywhere in
 * the value, unless anchored) keeps the series. If that expression has a
 * capture group, the first group's text becomes the value ("" when the group
 * took no part in the match), so ^(kswapd).*$ folds kswapd0 and kswapd7 into
 * kswapd; otherwise the value passes unchanged.
 */
static enum bb_decode_status dec_regexp(struct step *s)
{
	const struct prepared *p = s->dec->priv;
	char tmp[BB_LABEL_MAX], group[BB_LABEL_MAX];
	const char *text = input_text(s, tmp, sizeof(tmp));
	regmatch_t m[2];
	size_t i;

	if (!p || !p->regexps)
		return fail(s, "regexp: decoder was not prepared");
	for (i = 0; i < p->n_regexps; i++) {
		size_t len;

		if (regexec(&p->regexps[i], text, 2, m, 0) != 0)
			continue;
		if (p->regexps[i].re_nsub == 0)
			return out_text(s, text);
		len = m[1].rm_so < 0 ? 0 : (size_t)(m[1].rm_eo - m[1].rm_so);
		memcpy(group, text + (m[1].rm_so < 0 ? 0 : m[1].rm_so), len);
		group[len] = '\0';
		return out_text(s, group);
	}
	s->out[0] = '\0';
	set_err(s->err, s->errlen, "regexp: \"%.64s\" matches none of the %zu regular expressions",
		text, p->n_regexps);
	return BB_DECODE_DROP;
}

/* Loaded longer ago than the refresh interval: a miss may reload. Lock held. */
static bool ksyms_stale(struct bb_decode_ctx *ctx)
{
	return ctx->ksyms_loaded && now_ms() - ctx->ksyms_loaded_at >= ctx->refresh_ms;
}

static enum bb_decode_status dec_ksym(struct step *s)
{
	const char *name;
	uint64_t addr;
	size_t width;

	if (!input_number(s, &addr, &width) || !need_ctx(s))
		return BB_DECODE_ERROR;
	pthread_mutex_lock(&s->ctx->lock);
	if (!ksyms_ready(s->ctx, s->err, s->errlen)) {
		pthread_mutex_unlock(&s->ctx->lock);
		s->out[0] = '\0';
		return BB_DECODE_ERROR;
	}
	name = ksym_lookup(s->ctx, addr);
	if (!name && ksyms_stale(s->ctx)) {
		/* a module loaded since: reload once per refresh interval */
		ksyms_clear(s->ctx);
		if (ksyms_ready(s->ctx, s->err, s->errlen))
			name = ksym_lookup(s->ctx, addr);
	}
	if (name) {
		out_text(s, name);
	} else {
		out_fmt(s, "0x%" PRIx64, addr);
		s->provisional = true;
	}
	pthread_mutex_unlock(&s->ctx->lock);
	return BB_DECODE_OK;
}

static enum bb_decode_status dec_kstack(struct step *s)
{
	struct sbuf b;
	size_t i;

	if (!need_raw(s, "an array of 8-byte kernel addresses") || !need_ctx(s))
		return BB_DECODE_ERROR;
	if (s->inlen == 0 || s->inlen % 8)
		return fail(s, "kstack: size %zu is not a multiple of 8", s->inlen);
	pthread_mutex_lock(&s->ctx->lock);
	if (!ksyms_ready(s->ctx, s->err, s->errlen)) {
		pthread_mutex_unlock(&s->ctx->lock);
		s->out[0] = '\0';
		return BB_DECODE_ERROR;
	}
	sb_init(&b, s->out, STEP_MAX);
	for (i = 0; i < s->inlen; i += 8) {
		char hex[24];
		const char *name;
		uint64_t addr;

		memcpy(&addr, s->in + i, 8);
		if (addr == 0)
			break;
		name = ksym_lookup(s->ctx, addr);
		if (!name) {
			snprintf(hex, sizeof(hex), "0x%" PRIx64, addr);
			name = hex;
		}
		if ((i && !sb_putn(&b, "\n", 1)) || !sb_puts_cut(&b, name))
			break;
	}
	pthread_mutex_unlock(&s->ctx->lock);
	return BB_DECODE_OK;
}

static enum bb_decode_status dec_syscall(struct step *s)
{
	const char *name = NULL;
	uint64_t nr;
	size_t width;

	if (!input_number(s, &nr, &width))
		return BB_DECODE_ERROR;
	if (nr <= UINT32_MAX)
		name = bb_syscall_name((unsigned)nr, NULL);
	if (name)
		return out_text(s, name);
	return out_fmt(s, "unknown_syscall:%" PRIu64, nr);
}

/* v as an errno: positive, or negative (-EINVAL) stored in width bytes (0: unknown width). */
static uint64_t errno_value(uint64_t v, size_t width)
{
	if (width == 1 || width == 2 || width == 4) {
		uint64_t sign = 1ULL << (width * 8 - 1);

		if (v & sign)
			return (sign << 1) - v; /* two's complement magnitude */
		return v;
	}
	if (v > 4095 && (uint64_t)0 - v <= 4095)
		return (uint64_t)0 - v;
	if (width == 0 && v > 4095 && v <= UINT32_MAX && (uint32_t)0 - (uint32_t)v <= 4095)
		return (uint32_t)0 - (uint32_t)v;
	return v;
}

static enum bb_decode_status dec_errno(struct step *s)
{
	const char *name = NULL;
	uint64_t v;
	size_t width;

	if (!input_number(s, &v, &width))
		return BB_DECODE_ERROR;
	v = errno_value(v, width);
	if (v == 0)
		return out_text(s, "0");
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	if (v <= 4095)
		name = strerrorname_np((int)v);
#endif
	if (name)
		return out_text(s, name);
	return out_fmt(s, "unknown:%" PRIu64, v);
}

static enum bb_decode_status dec_majorminor(struct step *s)
{
	struct bb_decode_ctx *ctx = s->ctx;
	unsigned major, minor;
	const char *name;
	uint64_t v;
	size_t width;

	if (!input_number(s, &v, &width) || !need_ctx(s))
		return BB_DECODE_ERROR;
	if (v > UINT32_MAX)
		return fail(s, "majorminor: %" PRIu64 " is not a 32-bit dev_t", v);
	/* The userspace (new_encode_dev) layout, as ebpf_exporter decodes it with unix.Major/Minor
	 * and as its objects and ours write it: not the kernel-internal major << 20 | minor. */
	major = (unsigned)((v >> 8) & 0xfff);
	minor = (unsigned)((v & 0xff) | ((v >> 12) & 0xfff00));
	pthread_mutex_lock(&ctx->lock);
	if (!ctx->parts_loaded_at)
		parts_load(ctx);
	name = parts_find(ctx, major, minor);
	if (!name && now_ms() - ctx->parts_loaded_at >= ctx->refresh_ms) {
		parts_load(ctx);
		name = parts_find(ctx, major, minor);
	}
	if (name) {
		out_text(s, name);
	} else {
		out_fmt(s, "%u:%u", major, minor);
		s->provisional = true;
	}
	pthread_mutex_unlock(&ctx->lock);
	return BB_DECODE_OK;
}

static enum bb_decode_status dec_inet_ip(struct step *s)
{
	char buf[INET6_ADDRSTRLEN];

	if (!need_raw(s, "the raw address bytes"))
		return BB_DECODE_ERROR;
	if (s->inlen != 4 && s->inlen != 16)
		return fail(s, "inet_ip: size %zu is neither 4 (IPv4) nor 16 (IPv6)", s->inlen);
	if (!inet_ntop(s->inlen == 4 ? AF_INET : AF_INET6, s->in, buf, sizeof(buf)))
		return fail(s, "inet_ip: %s", bb_strerror(errno));
	return out_text(s, buf);
}

static enum bb_decode_status dec_ifname(struct step *s)
{
	char name[IF_NAMESIZE];
	uint64_t idx;
	size_t width;

	if (!input_number(s, &idx, &width))
		return BB_DECODE_ERROR;
	if (idx > 0 && idx <= UINT32_MAX && if_indextoname((unsigned)idx, name))
		return out_text(s, name);
	s->provisional = true;
	return out_fmt(s, "ifindex%" PRIu64, idx);
}

static enum bb_decode_status dec_cgroup(struct step *s)
{
	struct bb_decode_ctx *ctx = s->ctx;
	const char *path;
	uint64_t id;
	size_t width;

	if (!input_number(s, &id, &width) || !need_ctx(s))
		return BB_DECODE_ERROR;
	pthread_mutex_lock(&ctx->lock);
	if (!ctx->cgroups_loaded_at)
		cgroups_load(ctx);
	path = cgroups_find(ctx, id);
	if (!path && now_ms() - ctx->cgroups_loaded_at >= ctx->refresh_ms) {
		cgroups_load(ctx);
		path = cgroups_find(ctx, id);
	}
	if (path) {
		out_text(s, path);
	} else {
		out_fmt(s, "unknown_cgroup_id:%" PRIu64, id);
		s->provisional = true;
	}
	pthread_mutex_unlock(&ctx->lock);
	return BB_DECODE_OK;
}

static enum bb_decode_status dec_dname(struct step *s)
{
	struct sbuf b;
	size_t pos = 0, wire = 1;

	if (!need_raw(s, "DNS wire-format bytes"))
		return BB_DECODE_ERROR;
	sb_init(&b, s->out, STEP_MAX);
	for (;;) {
		uint8_t len;
		size_t i;

		if (pos >= s->inlen)
			return fail(s, "dname: no terminating zero-length label within %zu bytes",
				    s->inlen);
		len = s->in[pos];
		if (len == 0)
			break;
		if ((len & 0xc0) == 0xc0)
			return fail(s, "dname: compression pointer at offset %zu is not supported",
				    pos);
		if (len & 0xc0)
			return fail(s, "dname: invalid label length byte 0x%02x at offset %zu", len,
				    pos);
		if (pos + 1 + len > s->inlen)
			return fail(s,
				    "dname: label of length %u at offset %zu runs past the end "
				    "(%zu bytes)",
				    len, pos, s->inlen);
		wire += 1 + (size_t)len;
		if (wire > 255)
			return fail(s, "dname: name longer than 255 bytes");
		if (pos)
			sb_putn(&b, ".", 1);
		for (i = pos + 1; i <= pos + len; i++) {
			uint8_t c = s->in[i];
			char tmp[5];

			if (c == '.' || c == '\\') {
				tmp[0] = '\\';
				tmp[1] = (char)c;
				sb_putn(&b, tmp, 2);
			} else if (c > 0x20 && c < 0x7f) {
				tmp[0] = (char)c;
				sb_putn(&b, tmp, 1);
			} else {
				snprintf(tmp, sizeof(tmp), "\\%03u", c);
				sb_putn(&b, tmp, 4);
			}
		}
		pos += 1 + (size_t)len;
	}
	if (pos == 0)
		return out_text(s, ".");
	return BB_DECODE_OK;
}

enum pci_kind { PCI_VENDOR, PCI_DEVICE, PCI_CLASS, PCI_SUBCLASS };

static enum bb_decode_status dec_pci(struct step *s, enum pci_kind kind)
{
	struct bb_decode_ctx *ctx = s->ctx;
	const char *name = NULL;
	uint64_t v;
	size_t width;

	if (!input_number(s, &v, &width) || !need_ctx(s))
		return BB_DECODE_ERROR;
	pthread_mutex_lock(&ctx->lock);
	if (!pci_ready(ctx, s->name, s->err, s->errlen)) {
		pthread_mutex_unlock(&ctx->lock);
		s->out[0] = '\0';
		return BB_DECODE_ERROR;
	}
	switch (kind) {
	case PCI_VENDOR:
		name = v <= 0xffff ? pci_find(&ctx->pci_vendors, v) : NULL;
		if (name)
			out_text(s, name);
		else
			out_fmt(s, "unknown pci vendor: 0x%04" PRIx64, v);
		break;
	case PCI_DEVICE:
		name = pci_find(&ctx->pci_devices, v);
		if (name)
			out_text(s, name);
		else
			out_fmt(s, "unknown pci device: 0x%08" PRIx64, v);
		break;
	case PCI_CLASS:
		name = v <= 0xff ? pci_find(&ctx->pci_classes, v) : NULL;
		if (name)
			out_text(s, name);
		else
			out_fmt(s, "unknown pci class: 0x%02" PRIx64, v);
		break;
	case PCI_SUBCLASS:
		if (v > 0xffff || !pci_find(&ctx->pci_classes, v >> 8))
			out_fmt(s, "unknown pci class: 0x%02" PRIx64, v >> 8);
		else if ((name = pci_find(&ctx->pci_subclasses, v)))
			out_text(s, name);
		else
			out_fmt(s, "unknown pci subclass: 0x%02" PRIx64 " (class 0x%02" PRIx64 ")",
				v & 0xff, v >> 8);
		break;
	}
	pthread_mutex_unlock(&ctx->lock);
	return BB_DECODE_OK;
}

static enum bb_decode_status dec_pci_vendor(struct step *s)
{
	return dec_pci(s, PCI_VENDOR);
}

static enum bb_decode_status dec_pci_device(struct step *s)
{
	return dec_pci(s, PCI_DEVICE);
}

static enum bb_decode_status dec_pci_class(struct step *s)
{
	return dec_pci(s, PCI_CLASS);
}

static enum bb_decode_status dec_pci_subclass(struct step *s)
{
	return dec_pci(s, PCI_SUBCLASS);
}

static const struct decoder_def {
	const char *name;
	decode_fn fn;
} decoders[] = {
	{ "uint", dec_uint },
	{ "string", dec_string },
	{ "hex", dec_hex },
	{ "static_map", dec_static_map },
	{ "regexp", dec_regexp },
	{ "ksym", dec_ksym },
	{ "kstack", dec_kstack },
	{ "syscall", dec_syscall },
	{ "errno", dec_errno },
	{ "majorminor", dec_majorminor },
	{ "inet_ip", dec_inet_ip },
	{ "ifname", dec_ifname },
	{ "cgroup", dec_cgroup },
	{ "dname", dec_dname },
	{ "pci_vendor", dec_pci_vendor },
	{ "pci_device", dec_pci_device },
	{ "pci_class", dec_pci_class },
	{ "pci_subclass", dec_pci_subclass },
};

#define N_DECODERS (sizeof(decoders) / sizeof(decoders[0]))

static const struct decoder_def *find_decoder(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < N_DECODERS; i++)
		if (strcmp(decoders[i].name, name) == 0)
			return &decoders[i];
	return NULL;
}

/* ---- public API ---------------------------------------------------------- */

bool bb_decoder_known(const char *name)
{
	return find_decoder(name) != NULL;
}

const char *bb_decoder_names(void)
{
	return "uint, string, hex, static_map, regexp, ksym, kstack, syscall, errno, majorminor, "
	       "inet_ip, ifname, cgroup, dname, pci_vendor, pci_device, pci_class, pci_subclass";
}

static int static_entry_cmp(const void *a, const void *b)
{
	const struct bb_static_entry *const *x = a, *const *y = b;

	return strcmp((*x)->key, (*y)->key);
}

static int prepare_static_map(struct bb_decoder_conf *dec, struct prepared *p, char *err,
			      size_t errlen)
{
	size_t i;

	if (dec->n_static_map == 0 || !dec->static_map) {
		set_err(err, errlen, "static_map: expected a non-empty mapping");
		return -EINVAL;
	}
	p->sorted = calloc(dec->n_static_map, sizeof(*p->sorted));
	if (!p->sorted) {
		set_err(err, errlen, "static_map: out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < dec->n_static_map; i++) {
		if (!dec->static_map[i].key || !dec->static_map[i].value) {
			set_err(err, errlen, "static_map: expected string keys and values");
			return -EINVAL;
		}
		p->sorted[i] = &dec->static_map[i];
	}
	p->n_sorted = dec->n_static_map;
	qsort(p->sorted, p->n_sorted, sizeof(*p->sorted), static_entry_cmp);
	for (i = 1; i < p->n_sorted; i++) {
		if (strcmp(p->sorted[i - 1]->key, p->sorted[i]->key) == 0) {
			set_err(err, errlen, "static_map: duplicate key \"%.64s\"",
				p->sorted[i]->key);
			return -EINVAL;
		}
	}
	return 0;
}

/* The ']' that closes the bracket expression opening at C (a '['), or the
 * string's end: a ']' right after "[" or "[^" is a literal, and so is one
 * inside "[:class:]", "[.coll.]" or "[=equiv=]"; a '[' alone is a literal. */
static const char *bracket_end(const char *c)
{
	const char *p = c + 1;

	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p && *p != ']') {
		if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			char kind = p[1];

			for (p += 2; *p && !(p[0] == kind && p[1] == ']'); p++)
				;
			if (!*p)
				break;
			p += 2;
			continue;
		}
		p++;
	}
	return p;
}

/* Offset of a repetition operator right after another ("b++", "a*{2}"), or -1;
 * one '?' after an operator is RE2's lazy marker and passes. RE2 (ebpf_exporter)
 * refuses the rest; glibc's regcomp copies the subtree for each and took minutes
 * and GBs on 30 of them (found by tests/fuzz/fuzz_config). */
static long nested_repetition(const char *re)
{
	int after = 0; /* 1: after a repetition operator, 2: after its lazy '?' */

	for (const char *c = re; *c; c++) {
		if (*c == '*' || *c == '+' || *c == '?' || *c == '{') {
			if (after == 2 || (after == 1 && *c != '?'))
				return c - re;
			after = after == 1 ? 2 : 1;
			if (*c == '{')
				while (c[1] && *c != '}')
					c++;
			continue;
		}
		after = 0;
		if (*c == '\\' && c[1]) {
			c++;
		} else if (*c == '[') {
			c = bracket_end(c);
			if (!*c)
				break;
		}
	}
	return -1;
}

static int prepare_regexps(struct bb_decoder_conf *dec, struct prepared *p, char *err,
			   size_t errlen)
{
	size_t i;

	if (dec->n_regexps == 0 || !dec->regexps) {
		set_err(err, errlen, "regexps: expected a non-empty list of regular expressions");
		return -EINVAL;
	}
	p->regexps = calloc(dec->n_regexps, sizeof(*p->regexps));
	if (!p->regexps) {
		set_err(err, errlen, "regexps: out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < dec->n_regexps; i++) {
		char msg[256];
		int rc;

		if (!dec->regexps[i]) {
			set_err(err, errlen, "regexps[%zu]: expected a regular expression", i);
			return -EINVAL;
		}
		if (nested_repetition(dec->regexps[i]) >= 0) {
			set_err(err, errlen,
				"regexps[%zu]: expected no repetition operator right after another "
				"(at offset %ld), got \"%.64s\"",
				i, nested_repetition(dec->regexps[i]), dec->regexps[i]);
			return -EINVAL;
		}
		rc = regcomp(&p->regexps[i], dec->regexps[i], REG_EXTENDED);
		if (rc) {
			regerror(rc, &p->regexps[i], msg, sizeof(msg));
			set_err(err, errlen, "regexps[%zu]: invalid regular expression: %s", i,
				msg);
			return -EINVAL;
		}
		p->n_regexps++; /* only compiled ones are freed */
	}
	return 0;
}

static void prepared_free(struct prepared *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n_regexps; i++)
		regfree(&p->regexps[i]);
	free(p->regexps);
	free(p->sorted);
	free(p);
}

int bb_decoder_prepare(struct bb_decoder_conf *dec, char *err, size_t errlen)
{
	const struct decoder_def *def;
	struct prepared *p;
	bool is_static, is_regexp;
	int rc = 0;

	bb_decoder_release(dec);
	def = find_decoder(dec->name);
	if (!def) {
		set_err(err, errlen, "name: expected one of %s, got \"%.64s\"", bb_decoder_names(),
			dec->name ? dec->name : "");
		return -EINVAL;
	}
	is_static = def->fn == dec_static_map;
	is_regexp = def->fn == dec_regexp;
	if (!is_static && dec->n_static_map) {
		set_err(err, errlen, "static_map: only valid with the static_map decoder, not %s",
			def->name);
		return -EINVAL;
	}
	if (!is_static && dec->allow_unknown) {
		set_err(err, errlen, "allow_unknown: only valid with static_map, not %s",
			def->name);
		return -EINVAL;
	}
	if (!is_regexp && dec->n_regexps) {
		set_err(err, errlen, "regexps: only valid with the regexp decoder, not %s",
			def->name);
		return -EINVAL;
	}
	if (!is_static && !is_regexp)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p) {
		set_err(err, errlen, "%s: out of memory", def->name);
		return -ENOMEM;
	}
	rc = is_static ? prepare_static_map(dec, p, err, errlen)
		       : prepare_regexps(dec, p, err, errlen);
	if (rc) {
		prepared_free(p);
		return rc;
	}
	dec->priv = p;
	return 0;
}

void bb_decoder_release(struct bb_decoder_conf *dec)
{
	if (!dec)
		return;
	prepared_free(dec->priv);
	dec->priv = NULL;
}

struct bb_decode_ctx *bb_decode_ctx_new(const struct bb_decode_paths *paths)
{
	struct bb_decode_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->refresh_ms = REFRESH_MS_DEFAULT;
	ctx->kallsyms_path = strdup(paths && paths->kallsyms ? paths->kallsyms : DEFAULT_KALLSYMS);
	ctx->partitions_path =
		strdup(paths && paths->partitions ? paths->partitions : DEFAULT_PARTITIONS);
	ctx->cgroup_root =
		strdup(paths && paths->cgroup_root ? paths->cgroup_root : DEFAULT_CGROUP_ROOT);
	if (paths && paths->pci_ids)
		ctx->pci_ids_path = strdup(paths->pci_ids);
	if (!ctx->kallsyms_path || !ctx->partitions_path || !ctx->cgroup_root ||
	    (paths && paths->pci_ids && !ctx->pci_ids_path) ||
	    pthread_mutex_init(&ctx->lock, NULL)) {
		free(ctx->kallsyms_path);
		free(ctx->partitions_path);
		free(ctx->cgroup_root);
		free(ctx->pci_ids_path);
		free(ctx);
		return NULL;
	}
	return ctx;
}

void bb_decode_ctx_set_refresh_ms(struct bb_decode_ctx *ctx, unsigned ms)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->refresh_ms = ms;
	pthread_mutex_unlock(&ctx->lock);
}

void bb_decode_ctx_free(struct bb_decode_ctx *ctx)
{
	if (!ctx)
		return;
	ksyms_clear(ctx);
	parts_clear(ctx);
	cgroups_clear(ctx);
	pci_clear(ctx);
	free(ctx->kallsyms_path);
	free(ctx->partitions_path);
	free(ctx->cgroup_root);
	free(ctx->pci_ids_path);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

/* ---- the chain's last step: valid UTF-8, unique, bounded ---------------- */

/* Bytes a label never carries as they are: controls but tab and newline
 * (kstack separates frames with newlines, as ebpf_exporter does), DEL, and
 * anything that is not part of a valid UTF-8 sequence. */
static bool escaped_byte(uint8_t c)
{
	return (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Would "\x" + P[0..1] be read back as an escape? Every byte >= 0x80 counts
 * (an isolated one is invalid UTF-8), and so does "5c", the escaped backslash. */
static bool escape_pair(const char *p)
{
	int hi = hex_value(p[0]), lo = hi < 0 ? -1 : hex_value(p[1]);
	int v = hi * 16 + lo;

	return lo >= 0 && (escaped_byte((uint8_t)v) || v >= 0x80 || v == 0x5c);
}

/* 64-bit FNV-1a, for the suffix of a cut label. */
static uint64_t label_hash(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

bool bb_label_escape(const char *in, char *out, size_t outlen)
{
	char full[STEP_MAX * 4 + 1];
	size_t n = 0, len = strlen(in), cut;
	const uint8_t *p = (const uint8_t *)in;

	if (outlen < BB_LABEL_MAX)
		return false;
	for (size_t i = 0; i < len && n + 5 < sizeof(full);) {
		size_t seq = p[i] >= 0x80 ? utf8_seq_len(p + i, len - i) : 1;

		/* IN is NUL-terminated, so looking ahead stops at the NUL */
		if (p[i] == '\\' && p[i + 1] == 'x' && escape_pair((const char *)p + i + 2)) {
			/* a literal backslash that would read as an escape */
			memcpy(full + n, "\\x5c", 4);
			n += 4;
			i++;
		} else if (seq == 0 || (seq == 1 && escaped_byte(p[i]))) {
			snprintf(full + n, 5, "\\x%02x", p[i]);
			n += 4;
			i++;
		} else {
			memcpy(full + n, p + i, seq);
			n += seq;
			i += seq;
		}
	}
	full[n] = '\0';
	if (n < BB_LABEL_MAX) {
		memcpy(out, full, n + 1);
		return false;
	}
	/* Too long: keep a prefix and a hash of the whole, so two long values
	 * that share the prefix stay two series. Never cut a UTF-8 sequence or
	 * an escape in half. */
	cut = BB_LABEL_MAX - 1 - 17;
	while (cut > 0 && ((uint8_t)full[cut] & 0xc0) == 0x80)
		cut--;
	for (size_t back = 1; back <= 3 && back <= cut; back++) {
		if (full[cut - back] == '\\' && full[cut - back + 1] == 'x') {
			cut -= back;
			break;
		}
	}
	memcpy(out, full, cut);
	snprintf(out + cut, outlen - cut, "~%016" PRIx64, label_hash(full, n));
	return true;
}

enum bb_decode_status bb_decode_label_flags(struct bb_decode_ctx *ctx,
					    const struct bb_label_conf *label, const uint8_t *raw,
					    char *out, size_t outlen, char *err, size_t errlen,
					    unsigned *flags)
{
	char buf[2][STEP_MAX];
	struct step s = { .ctx = ctx, .err = err, .errlen = errlen };
	size_t i;

	if (flags)
		*flags = 0;
	if (err && errlen)
		err[0] = '\0';
	if (out && outlen)
		out[0] = '\0';
	if (!label || !out || outlen == 0 || (!raw && label->size)) {
		set_err(err, errlen, "decode: invalid arguments");
		return BB_DECODE_ERROR;
	}
	if (label->n_decoders == 0 || !label->decoders) {
		set_err(err, errlen, "decoders: label %s has none",
			label->name ? label->name : "?");
		return BB_DECODE_ERROR;
	}
	s.in = raw ? raw : (const uint8_t *)"";
	s.inlen = label->size;
	s.raw = true;
	for (i = 0; i < label->n_decoders; i++) {
		const struct decoder_def *def = find_decoder(label->decoders[i].name);
		enum bb_decode_status st;

		if (!def) {
			set_err(err, errlen, "%.64s: unknown decoder",
				label->decoders[i].name ? label->decoders[i].name : "(null)");
			return BB_DECODE_ERROR;
		}
		s.dec = &label->decoders[i];
		s.name = def->name;
		s.out = buf[i & 1];
		st = def->fn(&s);
		if (st != BB_DECODE_OK)
			return st;
		s.in = (const uint8_t *)s.out;
		s.inlen = strlen(s.out);
		s.raw = false;
	}
	if (outlen >= BB_LABEL_MAX) {
		if (bb_label_escape((const char *)s.in, out, outlen) && flags)
			*flags |= BB_DECODE_TRUNCATED;
	} else {
		/* a caller with a small buffer gets a plain cut */
		char final[BB_LABEL_MAX];

		bb_label_escape((const char *)s.in, final, sizeof(final));
		copy_text(out, outlen, final);
		if (strlen(final) >= outlen && flags)
			*flags |= BB_DECODE_TRUNCATED;
	}
	if (s.provisional && flags)
		*flags |= BB_DECODE_PROVISIONAL;
	return BB_DECODE_OK;
}

enum bb_decode_status bb_decode_label(struct bb_decode_ctx *ctx, const struct bb_label_conf *label,
				      const uint8_t *raw, char *out, size_t outlen, char *err,
				      size_t errlen)
{
	return bb_decode_label_flags(ctx, label, raw, out, outlen, err, errlen, NULL);
}
