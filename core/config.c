/* SPDX-License-Identifier: MIT */
/*
 * The config parser: ebpf_exporter's YAML schema plus bpfbridge's additions
 * (hooks with alternatives, max_series). See docs/config.md.
 *
 * libyaml's document API gives every node a start mark, so every error names
 * the line and column of the node at fault. Each mapping type has one table of
 * {key, shape, setter, offset}: walk_map() checks the shape of a whole mapping
 * (known keys, no repeats, required keys present, value shapes) before any
 * setter runs. A setter converts one value and returns NULL or a message
 * fragment ("expected ..., got ...") that walk_map() prefixes with the
 * position and the key path. Setters that descend report their own errors and
 * return `reported`.
 *
 * All or nothing: on error the partly filled config is freed.
 */
#define _GNU_SOURCE /* strtod_l, newlocale */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex.h>
#include <yaml.h>

#include "config.h"
#include "decode.h"
#include "hist.h"
#include "log.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define KEY_MAX_BYTES 1024
#define BUCKET_MAX 1023
#define KEYPATH_MAX 200
#define SHOW_MAX 48 /* bytes of a value quoted in a message */

/*
 * Aliases let a small document expand into a huge one ("billion laughs").
 * Sharing a decoder list or a static_map between labels is reasonable; each
 * node may be visited a few times, plus some slack for small documents.
 */
#define ALIAS_EXPANSION 4
#define ALIAS_SLACK_NODES 20000
#define ALIAS_SLACK_BYTES (64 * 1024)

/*
 * libyaml's scanner costs O(flow depth) per token and its anchor table is a
 * list searched per anchor and alias: a 1 MiB file of '[' or of anchors would
 * take minutes. The schema nests 9 deep and needs a handful of anchors.
 */
#define MAX_DEPTH 32
#define MAX_ANCHORS 1000

#define EXPECT_IDENT "an identifier ([A-Za-z_][A-Za-z0-9_]*)"

/* Returned by setters that already wrote the full message. */
static const char reported[] = "";

struct pctx {
	const char *path;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	int rc; /* first error wins */
	size_t nodes_total, nodes_left;
	size_t bytes_total, bytes_left;
	locale_t c_locale;
	char keypath[KEYPATH_MAX];
	size_t keylen;
	char frag[BB_ERRMSG_MAX];
	char shown[2][SHOW_MAX + 16];
	unsigned shown_next;
	/* Hook being filled, for the program repeat check across hooks. */
	struct refs *programs;
	size_t hook_index;
};

/* ---- messages ---- */

static struct bb_pos pos_of(const yaml_node_t *n)
{
	struct bb_pos p = { (int)n->start_mark.line + 1, (int)n->start_mark.column + 1 };

	return p;
}

__attribute__((format(printf, 3, 4))) static void fail(struct pctx *c, struct bb_pos pos,
						       const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->rc)
		return;
	c->rc = -EINVAL;
	n = snprintf(c->err, c->errlen, "%s:%d:%d: %s: ", c->path, pos.line, pos.column,
		     c->keylen ? c->keypath : "document");
	if (n < 0 || (size_t)n >= c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
}

static const char *oom(struct pctx *c)
{
	if (!c->rc) {
		c->rc = -ENOMEM;
		snprintf(c->err, c->errlen, "%s: out of memory", c->path);
	}
	return reported;
}

__attribute__((format(printf, 2, 3))) static const char *frag(struct pctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->frag, sizeof(c->frag), fmt, ap);
	va_end(ap);
	return c->frag;
}

/*
 * Copy LEN bytes of S into OUT (OUTLEN >= 8) so that a message stays one
 * printable line: quotes, backslashes and control characters are escaped,
 * UTF-8 sequences are kept whole, and long text ends in "...".
 */
static void render(char *out, size_t outlen, const char *s, size_t len)
{
	size_t o = 0, i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)s[i];
		char tmp[8];
		size_t n = 1, seq = 1;

		if (ch == '"' || ch == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)ch;
			n = 2;
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", ch);
			n = 4;
		} else if (ch >= 0x80) {
			while (seq < 4 && i + seq < len &&
			       ((unsigned char)s[i + seq] & 0xc0) == 0x80)
				seq++;
			memcpy(tmp, s + i, seq);
			n = seq;
		} else {
			tmp[0] = (char)ch;
		}
		if (o + n + 4 > outlen) {
			memcpy(out + o, "...", 4);
			return;
		}
		memcpy(out + o, tmp, n);
		o += n;
		i += seq;
	}
	out[o] = '\0';
}

static size_t append_path(struct pctx *c, const char *sep, const char *text, size_t len)
{
	size_t mark = c->keylen, room = sizeof(c->keypath) - c->keylen;
	char shown[SHOW_MAX + 8];

	render(shown, sizeof(shown), text, len);
	snprintf(c->keypath + c->keylen, room, "%s%s", sep, shown);
	c->keylen += strlen(c->keypath + c->keylen);
	return mark;
}

/* Extend the key path; the returned mark restores it with pop(). */
static size_t push_key(struct pctx *c, const char *key)
{
	return append_path(c, c->keylen ? "." : "", key, strlen(key));
}

static size_t push_index(struct pctx *c, size_t i)
{
	char idx[32];

	snprintf(idx, sizeof(idx), "[%zu]", i);
	return append_path(c, "", idx, strlen(idx));
}

static void pop(struct pctx *c, size_t mark)
{
	c->keylen = mark;
	c->keypath[mark] = '\0';
}

/* ---- nodes ---- */

enum shape { SHAPE_SCALAR = 1, SHAPE_LIST = 2, SHAPE_MAP = 4, SHAPE_ANY = 7 };

static unsigned shape_of(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return SHAPE_SCALAR;
	case YAML_SEQUENCE_NODE:
		return SHAPE_LIST;
	case YAML_MAPPING_NODE:
		return SHAPE_MAP;
	default:
		return 0;
	}
}

static yaml_node_t *node_at(struct pctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static size_t list_len(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static yaml_node_t *list_item(struct pctx *c, const yaml_node_t *seq, size_t i)
{
	return node_at(c, seq->data.sequence.items.start[i]);
}

static size_t map_len(const yaml_node_t *map)
{
	return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* YAML's null: an empty plain scalar, ~ or null. */
static bool is_null(const yaml_node_t *n)
{
	const char *s = scalar(n);

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* "a mapping", "an empty list", "\"text\"": what a message says we got. */
static const char *describe(struct pctx *c, const yaml_node_t *n)
{
	char *buf = c->shown[c->shown_next++ & 1];
	size_t len;

	switch (n->type) {
	case YAML_MAPPING_NODE:
		return map_len(n) ? "a mapping" : "an empty mapping";
	case YAML_SEQUENCE_NODE:
		return list_len(n) ? "a list" : "an empty list";
	case YAML_SCALAR_NODE:
		if (is_null(n))
			return *scalar(n) ? "null" : "an empty value";
		buf[0] = '"';
		render(buf + 1, sizeof(c->shown[0]) - 2, scalar(n), n->data.scalar.length);
		len = strlen(buf);
		buf[len] = '"';
		buf[len + 1] = '\0';
		return buf;
	default:
		return "nothing";
	}
}

/* Aliases can repeat nodes: refuse to visit more than the budget allows. */
static bool spend(struct pctx *c, const yaml_node_t *at, size_t nodes)
{
	if (nodes <= c->nodes_left) {
		c->nodes_left -= nodes;
		return true;
	}
	fail(c, pos_of(at), "expected at most %zu nodes after expanding aliases, got more",
	     c->nodes_total);
	return false;
}

/* ---- scalar conversions: each returns NULL or a fragment ---- */

static const char *get_text(struct pctx *c, const yaml_node_t *n, const char *expect,
			    const char **text)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return frag(c, "expected %s, got %s", expect, describe(c, n));
	if (strlen(scalar(n)) != n->data.scalar.length)
		return frag(c, "expected %s, got text with a NUL character", expect);
	*text = scalar(n);
	return NULL;
}

/* Numbers and booleans must be plain: "4" in quotes is a string in YAML. */
static const char *get_plain(struct pctx *c, const yaml_node_t *n, const char *expect,
			     const char **text)
{
	const char *msg = get_text(c, n, expect, text);

	if (!msg && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		msg = frag(c, "expected %s, got the quoted string %s", expect, describe(c, n));
	return msg;
}

static const char *copy_text(struct pctx *c, const char *text, char **out)
{
	size_t len = strlen(text) + 1;

	if (len > c->bytes_left)
		return frag(c,
			    "expected at most %zu bytes of text after expanding aliases, got more",
			    c->bytes_total);
	c->bytes_left -= len;
	*out = strdup(text);
	return *out ? NULL : oom(c);
}

static bool is_ident(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static const char *get_ident(struct pctx *c, const yaml_node_t *n, char **out)
{
	const char *text, *msg = get_text(c, n, EXPECT_IDENT, &text);

	if (msg)
		return msg;
	if (!is_ident(text))
		return frag(c, "expected %s, got %s", EXPECT_IDENT, describe(c, n));
	return copy_text(c, text, out);
}

/* Decimal or 0x hexadecimal, optionally signed. */
static bool parse_int(const char *s, long long *out)
{
	const char *p = s + (*s == '-' || *s == '+');
	int base = (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) ? 16 : 10;
	char *end;

	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	*out = strtoll(s, &end, base);
	return !errno && !*end;
}

static const char *get_int(struct pctx *c, const yaml_node_t *n, long long lo, long long hi,
			   const char *expect, long long *out)
{
	const char *text, *msg = get_plain(c, n, expect, &text);

	if (msg)
		return msg;
	if (!parse_int(text, out) || *out < lo || *out > hi)
		return frag(c, "expected %s, got %s", expect, describe(c, n));
	return NULL;
}

/* Locale-independent: collectd or snmpd may have set LC_NUMERIC. */
static const char *get_number(struct pctx *c, const yaml_node_t *n, const char *expect, double *out)
{
	const char *text, *p, *msg = get_plain(c, n, expect, &text);
	char *end;

	if (msg)
		return msg;
	/* Plain decimal notation only: no hex floats, no inf or nan. */
	for (p = text; *p; p++)
		if (!strchr("0123456789+-.eE", *p))
			return frag(c, "expected %s, got %s", expect, describe(c, n));
	errno = 0;
	*out = strtod_l(text, &end, c->c_locale);
	if (end == text || *end || errno || !isfinite(*out))
		return frag(c, "expected %s, got %s", expect, describe(c, n));
	return NULL;
}

static const char *get_bool(struct pctx *c, const yaml_node_t *n, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no",
										  "off" };
	const char *text, *msg = get_plain(c, n, "true or false", &text);

	if (msg)
		return msg;
	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(text, yes[i]) || !strcasecmp(text, no[i])) {
			*out = !strcasecmp(text, yes[i]);
			return NULL;
		}
	}
	return frag(c, "expected true or false, got %s", describe(c, n));
}

/* ---- repeated names ---- */

struct name_ref {
	const char *s;
	struct bb_pos pos;
	size_t order;
	size_t idx[3];
};

struct refs {
	struct name_ref *v;
	size_t n, cap;
};

static int add_ref(struct pctx *c, struct refs *r, const char *s, struct bb_pos pos, size_t i,
		   size_t j, size_t k)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct name_ref *v = realloc(r->v, cap * sizeof(*v));

		if (!v) {
			oom(c);
			return -1;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n] = (struct name_ref){ s, pos, r->n, { i, j, k } };
	r->n++;
	return 0;
}

static void refs_free(struct refs *r)
{
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int d = strcmp(x->s, y->s);

	if (d)
		return d;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * The first name, in file order, that repeats an earlier one; *first is that
 * earlier one. Sorting keeps this O(n log n) for large static_maps.
 */
static const struct name_ref *find_repeat(struct refs *r, const struct name_ref **first)
{
	const struct name_ref *best = NULL;
	size_t g = 0, e;

	if (r->n < 2)
		return NULL;
	qsort(r->v, r->n, sizeof(*r->v), cmp_ref);
	for (g = 0; g < r->n; g = e) {
		for (e = g + 1; e < r->n && !strcmp(r->v[e].s, r->v[g].s); e++)
			;
		if (e - g > 1 && (!best || r->v[g + 1].order < best->order)) {
			best = &r->v[g + 1];
			*first = &r->v[g];
		}
	}
	return best;
}

/* ---- table-driven mappings ---- */

typedef const char *(*setter_fn)(struct pctx *c, const yaml_node_t *val, void *dst);

struct field {
	const char *key;
	unsigned shape;
	bool required;
	setter_fn set;	    /* NULL: accepted; the caller checks or ignores it */
	size_t offset;	    /* of the member set() fills; 0 when it fills the whole object */
	const char *expect; /* what the value should be, for messages */
};

struct seen {
	const yaml_node_t *key;
	const yaml_node_t *val;
};

static const struct field *find_field(const struct field *tab, size_t ntab, const yaml_node_t *key)
{
	if (key->type != YAML_SCALAR_NODE)
		return NULL;
	for (size_t i = 0; i < ntab; i++)
		if (strlen(tab[i].key) == key->data.scalar.length &&
		    !strcmp(tab[i].key, scalar(key)))
			return &tab[i];
	return NULL;
}

static const char *key_list(const struct field *tab, size_t ntab, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ntab && o < len; i++)
		o += snprintf(buf + o, len - o, "%s%s", i ? ", " : "", tab[i].key);
	return buf;
}

/* Check the shape of MAP against TAB, then fill OBJ in file order. SEEN gets each field's nodes. */
static int walk_map(struct pctx *c, const yaml_node_t *map, const struct field *tab, size_t ntab,
		    void *obj, struct seen *seen)
{
	const yaml_node_pair_t *pair, *start = map->data.mapping.pairs.start,
				      *top = map->data.mapping.pairs.top;
	char keys[256];
	size_t i, mark;

	memset(seen, 0, ntab * sizeof(*seen));
	if (!spend(c, map, 2 * map_len(map)))
		return -1;
	for (pair = start; pair < top; pair++) {
		const yaml_node_t *key = node_at(c, pair->key), *val = node_at(c, pair->value);
		const struct field *f = find_field(tab, ntab, key);

		if (!f) {
			fail(c, pos_of(key), "expected a key among %s, got %s",
			     key_list(tab, ntab, keys, sizeof(keys)), describe(c, key));
			return -1;
		}
		i = (size_t)(f - tab);
		mark = push_key(c, f->key);
		if (seen[i].key) {
			fail(c, pos_of(key),
			     "expected each key once, got it again (first at %d:%d)",
			     pos_of(seen[i].key).line, pos_of(seen[i].key).column);
		} else if (!(f->shape & shape_of(val))) {
			fail(c, pos_of(val), "expected %s, got %s", f->expect, describe(c, val));
		}
		pop(c, mark);
		if (c->rc)
			return -1;
		seen[i].key = key;
		seen[i].val = val;
	}
	for (i = 0; i < ntab; i++) {
		if (tab[i].required && !seen[i].key) {
			fail(c, pos_of(map), "expected key \"%s\", got a mapping without it",
			     tab[i].key);
			return -1;
		}
	}
	for (pair = start; pair < top; pair++) {
		const yaml_node_t *val = node_at(c, pair->value);
		const struct field *f = find_field(tab, ntab, node_at(c, pair->key));
		const char *msg;

		if (!f->set)
			continue;
		mark = push_key(c, f->key);
		msg = f->set(c, val, (char *)obj + f->offset);
		if (msg && msg != reported)
			fail(c, pos_of(val), "%s", msg);
		pop(c, mark);
		if (msg)
			return -1;
	}
	return 0;
}

struct list_spec {
	size_t min;
	unsigned item_shape;
	const char *expect; /* the whole list, when it has fewer than min items */
	const char *item_expect;
	int (*item)(struct pctx *c, const yaml_node_t *item, size_t i, void *obj);
};

/* Check every item's shape, then call spec->item on each in order. */
static int walk_list(struct pctx *c, const yaml_node_t *seq, const struct list_spec *spec,
		     void *obj)
{
	size_t n = list_len(seq), i, mark;
	int rc = 0;

	if (n < spec->min) {
		fail(c, pos_of(seq), "expected %s, got %s", spec->expect, describe(c, seq));
		return -1;
	}
	if (!spend(c, seq, n))
		return -1;
	for (i = 0; i < n; i++) {
		const yaml_node_t *it = list_item(c, seq, i);

		if (!(shape_of(it) & spec->item_shape)) {
			mark = push_index(c, i);
			fail(c, pos_of(it), "expected %s, got %s", spec->item_expect,
			     describe(c, it));
			pop(c, mark);
			return -1;
		}
	}
	for (i = 0; i < n && !rc; i++) {
		mark = push_index(c, i);
		rc = spec->item(c, list_item(c, seq, i), i, obj);
		pop(c, mark);
	}
	return rc ? -1 : 0;
}

/*
 * N zeroed elements, NULL for none: check c->rc. Callers set the count right
 * away so that bb_config_free() frees a partly filled array.
 */
static void *zalloc(struct pctx *c, size_t n, size_t size)
{
	void *p;

	if (!n)
		return NULL;
	p = calloc(n, size);
	if (!p)
		oom(c);
	return p;
}

/* ---- setters ---- */

static const char *set_text(struct pctx *c, const yaml_node_t *val, void *dst)
{
	const char *text, *msg = get_text(c, val, "a non-empty string", &text);

	return msg ? msg : copy_text(c, text, dst);
}

static const char *set_ident(struct pctx *c, const yaml_node_t *val, void *dst)
{
	return get_ident(c, val, dst);
}

static const char *set_label_name(struct pctx *c, const yaml_node_t *val, void *dst)
{
	const char *msg = get_ident(c, val, dst);
	char **name = dst;

	if (!msg && !strncmp(*name, "__", 2))
		msg = frag(c, "expected a label name not starting with __ (reserved), got %s",
			   describe(c, val));
	return msg;
}

static const char *set_label_size(struct pctx *c, const yaml_node_t *val, void *dst)
{
	long long v;
	const char *msg =
		get_int(c, val, 1, KEY_MAX_BYTES, "a positive integer of at most 1024", &v);

	if (!msg)
		*(uint32_t *)dst = (uint32_t)v;
	return msg;
}

static const char *set_padding(struct pctx *c, const yaml_node_t *val, void *dst)
{
	long long v;
	const char *msg =
		get_int(c, val, 0, KEY_MAX_BYTES, "a non-negative integer of at most 1024", &v);

	if (!msg)
		*(uint32_t *)dst = (uint32_t)v;
	return msg;
}

static const char *set_max_series(struct pctx *c, const yaml_node_t *val, void *dst)
{
	long long v;
	const char *msg =
		get_int(c, val, 1, UINT32_MAX, "a positive integer of at most 4294967295", &v);

	if (!msg)
		*(uint32_t *)dst = (uint32_t)v;
	return msg;
}

static const char *set_bool(struct pctx *c, const yaml_node_t *val, void *dst)
{
	return get_bool(c, val, dst);
}

/* A Go time.Duration as ebpf_exporter's YAML writes it: "300ms", "1m30s", "1h". */
static const char *set_duration(struct pctx *c, const yaml_node_t *val, void *dst)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = { { "ns", 1 },  { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "ms", 1e6 },
		      { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 } };
	const char *expect = "a duration such as 30s, 5m or 1h30m, of at most 24h";
	const char *text, *msg = get_text(c, val, expect, &text), *p;
	double total = 0;

	if (msg)
		return msg;
	p = text;
	if (!strcmp(p, "0")) {
		*(uint64_t *)dst = 0;
		return NULL;
	}
	do {
		char *end;
		double v;
		size_t u, best = SIZE_MAX, blen = 0;

		if (!isdigit((unsigned char)*p) && *p != '.')
			return frag(c, "expected %s, got %s", expect, describe(c, val));
		v = strtod(p, &end);
		if (end == p)
			return frag(c, "expected %s, got %s", expect, describe(c, val));
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t l = strlen(units[u].unit);

			/* the longest unit that matches: "ms" before "m" */
			if (!strncmp(end, units[u].unit, l) && l > blen) {
				best = u;
				blen = l;
			}
		}
		if (best == SIZE_MAX)
			return frag(c, "expected %s, got %s", expect, describe(c, val));
		total += v * units[best].ns;
		p = end + blen;
	} while (*p);
	if (total > 86400e9 || total < 0)
		return frag(c, "expected %s, got %s", expect, describe(c, val));
	*(uint64_t *)dst = (uint64_t)total;
	return NULL;
}

static const char *set_bucket_type(struct pctx *c, const yaml_node_t *val, void *dst)
{
	static const enum bb_bucket_type types[] = { BB_BUCKET_EXP2, BB_BUCKET_EXP2ZERO,
						     BB_BUCKET_LINEAR, BB_BUCKET_FIXED };
	const char *text, *msg = get_text(c, val, "one of exp2, exp2zero, linear, fixed", &text);

	if (msg)
		return msg;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!strcmp(text, bb_bucket_type_name(types[i]))) {
			*(enum bb_bucket_type *)dst = types[i];
			return NULL;
		}
	}
	return frag(c, "expected one of exp2, exp2zero, linear, fixed, got %s", describe(c, val));
}

static const char *set_bucket_bound(struct pctx *c, const yaml_node_t *val, void *dst)
{
	long long v;
	const char *msg = get_int(c, val, 0, BUCKET_MAX, "an integer from 0 to 1023", &v);

	if (!msg)
		*(int64_t *)dst = v;
	return msg;
}

static const char *set_multiplier(struct pctx *c, const yaml_node_t *val, void *dst)
{
	const char *msg = get_number(c, val, "a positive number", dst);

	if (!msg && !(*(double *)dst > 0))
		msg = frag(c, "expected a positive number, got %s", describe(c, val));
	return msg;
}

static const char *set_bucket_keys(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct bb_metric_conf *m = dst;
	size_t n = list_len(val), mark;
	const char *msg = NULL;

	if (!n)
		return frag(c, "expected a list of at least one bucket key, got an empty list");
	/* the one check of the fixed-bucket limit (hist.c trusts it) */
	if (n > BB_HIST_MAX_BUCKETS)
		return frag(c, "expected at most %d bucket keys, got a list of %zu",
			    BB_HIST_MAX_BUCKETS, n);
	if (!spend(c, val, n))
		return reported;
	m->bucket_keys = zalloc(c, n, sizeof(double));
	if (c->rc)
		return reported;
	m->n_bucket_keys = n;
	for (size_t i = 0; i < n && !msg; i++) {
		const yaml_node_t *it = list_item(c, val, i);
		double *k = &m->bucket_keys[i];

		mark = push_index(c, i);
		/* Keys are values of the uint bucket label: whole numbers, exact in a double. */
		msg = get_number(c, it, "a non-negative integer", k);
		if (!msg && (*k < 0 || *k != floor(*k) || *k > 9007199254740992.0))
			msg = frag(c, "expected a non-negative integer, got %s", describe(c, it));
		if (!msg && i && *k <= k[-1])
			msg = frag(c, "expected a key greater than %.17g (keys ascend), got %s",
				   k[-1], describe(c, it));
		if (msg)
			fail(c, pos_of(it), "%s", msg);
		pop(c, mark);
	}
	return msg ? reported : NULL;
}

static const char *set_decoder_name(struct pctx *c, const yaml_node_t *val, void *dst)
{
	const char *text, *msg = get_text(c, val, "a decoder name", &text);

	if (!msg && !bb_decoder_known(text))
		msg = frag(c, "expected one of %s, got %s", bb_decoder_names(), describe(c, val));
	return msg ? msg : copy_text(c, text, dst);
}

static const char *set_static_map(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct bb_decoder_conf *d = dst;
	const yaml_node_pair_t *pair = val->data.mapping.pairs.start;
	struct refs keys = { 0 };
	const struct name_ref *rep, *first = NULL;
	const char *msg = NULL;
	size_t n = map_len(val), mark;

	if (!spend(c, val, 2 * n))
		return reported;
	d->static_map = zalloc(c, n, sizeof(*d->static_map));
	if (c->rc)
		return reported;
	d->n_static_map = n;
	for (size_t i = 0; i < n && !c->rc; i++, pair++) {
		const yaml_node_t *k = node_at(c, pair->key), *v = node_at(c, pair->value);
		struct bb_static_entry *e = &d->static_map[i];
		const char *text;

		msg = get_text(c, k, "a mapping of scalar keys to label values", &text);
		if (!msg)
			msg = copy_text(c, text, &e->key);
		if (msg) {
			if (msg != reported)
				fail(c, pos_of(k), "%s", msg);
			break;
		}
		if (add_ref(c, &keys, e->key, pos_of(k), 0, 0, 0))
			break;
		mark = append_path(c, ".", scalar(k), k->data.scalar.length);
		msg = get_text(c, v, "a label value", &text);
		if (!msg)
			msg = copy_text(c, text, &e->value);
		if (msg && msg != reported)
			fail(c, pos_of(v), "%s", msg);
		pop(c, mark);
	}
	if (!c->rc && (rep = find_repeat(&keys, &first))) {
		mark = append_path(c, ".", rep->s, strlen(rep->s));
		fail(c, rep->pos, "expected each key once, got it again (first at %d:%d)",
		     first->pos.line, first->pos.column);
		pop(c, mark);
	}
	refs_free(&keys);
	return c->rc ? reported : NULL;
}

static int regexp_item(struct pctx *c, const yaml_node_t *item, size_t i, void *obj)
{
	struct bb_decoder_conf *d = obj;
	const char *text, *msg = get_text(c, item, "a regular expression", &text);

	if (!msg)
		msg = copy_text(c, text, &d->regexps[i]);
	if (msg && msg != reported)
		fail(c, pos_of(item), "%s", msg);
	return msg ? -1 : 0;
}

static const struct list_spec regexps_spec = {
	1,
	SHAPE_SCALAR,
	"a list of at least one regular expression",
	"a regular expression",
	regexp_item,
};

static const char *set_regexps(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct bb_decoder_conf *d = dst;

	d->regexps = zalloc(c, list_len(val), sizeof(char *));
	if (c->rc)
		return reported;
	d->n_regexps = list_len(val);
	return walk_list(c, val, &regexps_spec, d) ? reported : NULL;
}

/* Decoders */

enum { D_NAME, D_STATIC_MAP, D_ALLOW_UNKNOWN, D_REGEXPS, D_COUNT };

static const struct field decoder_fields[D_COUNT] = {
	[D_NAME] = { "name", SHAPE_SCALAR, true, set_decoder_name,
		     offsetof(struct bb_decoder_conf, name), "a decoder name" },
	[D_STATIC_MAP] = { "static_map", SHAPE_MAP, false, set_static_map, 0,
			   "a mapping of scalar keys to label values" },
	[D_ALLOW_UNKNOWN] = { "allow_unknown", SHAPE_SCALAR, false, set_bool,
			      offsetof(struct bb_decoder_conf, allow_unknown), "true or false" },
	[D_REGEXPS] = { "regexps", SHAPE_LIST, false, set_regexps, 0,
			"a list of regular expressions" },
};

/* A parameter given to a decoder that does not take it. */
static int check_param(struct pctx *c, const struct bb_decoder_conf *d, const struct seen *s,
		       const char *key, const char *owner)
{
	size_t mark;

	if (!s->key || !strcmp(d->name, owner))
		return 0;
	mark = push_key(c, key);
	fail(c, pos_of(s->key), "expected only in a %s decoder, got it in a %s decoder", owner,
	     d->name);
	pop(c, mark);
	return -1;
}

static int decoder_item(struct pctx *c, const yaml_node_t *item, size_t i, void *obj)
{
	struct bb_label_conf *l = obj;
	struct bb_decoder_conf *d = &l->decoders[i];
	struct seen s[D_COUNT];
	char msg[BB_ERRMSG_MAX];
	int rc;

	d->pos = pos_of(item);
	if (walk_map(c, item, decoder_fields, D_COUNT, d, s) ||
	    check_param(c, d, &s[D_STATIC_MAP], "static_map", "static_map") ||
	    check_param(c, d, &s[D_ALLOW_UNKNOWN], "allow_unknown", "static_map") ||
	    check_param(c, d, &s[D_REGEXPS], "regexps", "regexp"))
		return -1;
	if (!strcmp(d->name, "static_map") && !s[D_STATIC_MAP].key) {
		fail(c, d->pos,
		     "expected key \"static_map\" for decoder static_map, got a mapping without "
		     "it");
		return -1;
	}
	if (!strcmp(d->name, "regexp") && !s[D_REGEXPS].key) {
		fail(c, d->pos,
		     "expected key \"regexps\" for decoder regexp, got a mapping without it");
		return -1;
	}
	msg[0] = '\0';
	rc = bb_decoder_prepare(d, msg, sizeof(msg));
	if (rc == -ENOMEM) {
		oom(c);
		return -1;
	}
	if (rc) {
		fail(c, d->pos, "%s",
		     msg[0] ? msg
			    : "expected valid decoder parameters, got ones the decoder rejected");
		return -1;
	}
	return 0;
}

static const struct list_spec decoders_spec = {
	1,
	SHAPE_MAP,
	"a list of at least one decoder",
	"a mapping describing a decoder",
	decoder_item,
};

static const char *set_decoders(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct bb_label_conf *l = dst;

	l->decoders = zalloc(c, list_len(val), sizeof(*l->decoders));
	if (c->rc)
		return reported;
	l->n_decoders = list_len(val);
	return walk_list(c, val, &decoders_spec, l) ? reported : NULL;
}

/* Labels */

enum { L_NAME, L_SIZE, L_PADDING, L_DECODERS, L_COUNT };

static const struct field label_fields[L_COUNT] = {
	[L_NAME] = { "name", SHAPE_SCALAR, true, set_label_name,
		     offsetof(struct bb_label_conf, name), EXPECT_IDENT },
	[L_SIZE] = { "size", SHAPE_SCALAR, true, set_label_size,
		     offsetof(struct bb_label_conf, size), "a positive integer of at most 1024" },
	[L_PADDING] = { "padding", SHAPE_SCALAR, false, set_padding,
			offsetof(struct bb_label_conf, padding),
			"a non-negative integer of at most 1024" },
	[L_DECODERS] = { "decoders", SHAPE_LIST, true, set_decoders, 0, "a list of decoders" },
};

struct labels_fill {
	struct bb_metric_conf *m;
	struct refs names;
};

/* The last label of a histogram is the bucket index: an unsigned integer. */
static int check_bucket_label(struct pctx *c, const struct bb_label_conf *l, const struct seen *s)
{
	const struct bb_decoder_conf *last = &l->decoders[l->n_decoders - 1];
	size_t mark;

	if (strcmp(last->name, "uint")) {
		mark = push_key(c, "decoders");
		push_index(c, l->n_decoders - 1);
		fail(c, last->pos,
		     "expected uint as the last decoder (the last label of a histogram is the "
		     "bucket index), got %s",
		     last->name);
		pop(c, mark);
		return -1;
	}
	if (l->size != 1 && l->size != 2 && l->size != 4 && l->size != 8) {
		mark = push_key(c, "size");
		fail(c, pos_of(s[L_SIZE].val),
		     "expected 1, 2, 4 or 8 (the bucket index is an unsigned integer), got %u",
		     l->size);
		pop(c, mark);
		return -1;
	}
	return 0;
}

static int label_item(struct pctx *c, const yaml_node_t *item, size_t i, void *obj)
{
	struct labels_fill *lf = obj;
	struct bb_metric_conf *m = lf->m;
	struct bb_label_conf *l = &m->labels[i];
	struct seen s[L_COUNT];
	size_t mark;

	l->pos = pos_of(item);
	if (walk_map(c, item, label_fields, L_COUNT, l, s) ||
	    add_ref(c, &lf->names, l->name, pos_of(s[L_NAME].val), i, 0, 0))
		return -1;
	m->key_size += l->size + l->padding;
	if (m->key_size > KEY_MAX_BYTES) {
		fail(c, l->pos,
		     "expected labels of at most %d key bytes in total, got %u up to here",
		     KEY_MAX_BYTES, m->key_size);
		return -1;
	}
	if (m->kind != BB_METRIC_HISTOGRAM)
		return 0;
	if (i + 1 == m->n_labels)
		return check_bucket_label(c, l, s);
	if (!strcmp(l->name, "le")) {
		mark = push_key(c, "name");
		fail(c, pos_of(s[L_NAME].val),
		     "expected a label name other than le in a histogram (le holds the bucket "
		     "bound), got \"le\"");
		pop(c, mark);
		return -1;
	}
	return 0;
}

static const struct list_spec labels_spec = {
	1, SHAPE_MAP, "a list of at least one label", "a mapping describing a label", label_item,
};

/* A counter may have no labels: ebpf_exporter reads it from u32 key 0. */
static const struct list_spec counter_labels_spec = {
	0, SHAPE_MAP, "a list of labels", "a mapping describing a label", label_item,
};

static const char *set_labels(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct labels_fill lf = { dst, { 0 } };
	const struct name_ref *rep, *first = NULL;
	size_t mark;

	lf.m->labels = zalloc(c, list_len(val), sizeof(*lf.m->labels));
	if (c->rc)
		return reported;
	lf.m->n_labels = list_len(val);
	if (!walk_list(c, val,
		       lf.m->kind == BB_METRIC_COUNTER ? &counter_labels_spec : &labels_spec,
		       &lf) &&
	    (rep = find_repeat(&lf.names, &first))) {
		mark = push_index(c, rep->idx[0]);
		push_key(c, "name");
		fail(c, rep->pos, "expected a unique label name, got \"%s\" again (first at %d:%d)",
		     rep->s, first->pos.line, first->pos.column);
		pop(c, mark);
	}
	refs_free(&lf.names);
	return c->rc ? reported : NULL;
}

/* Metrics */

enum { M_NAME, M_HELP, M_LABELS, M_MAX_SERIES, M_COMMON };
enum { C_PERF_EVENT_ARRAY = M_COMMON, C_FLUSH_INTERVAL, C_COUNT };
enum {
	H_BUCKET_TYPE = M_COMMON,
	H_BUCKET_MIN,
	H_BUCKET_MAX,
	H_BUCKET_MULTIPLIER,
	H_BUCKET_KEYS,
	H_FLAT_INDEX,
	H_COUNT
};

#define METRIC_COMMON_FIELDS(labels_required)                                                      \
	[M_NAME] = { "name",                                                                       \
		     SHAPE_SCALAR,                                                                 \
		     true,                                                                         \
		     set_ident,                                                                    \
		     offsetof(struct bb_metric_conf, name),                                        \
		     EXPECT_IDENT },                                                               \
	[M_HELP] = { "help",                                                                       \
		     SHAPE_SCALAR,                                                                 \
		     true,                                                                         \
		     set_text,                                                                     \
		     offsetof(struct bb_metric_conf, help),                                        \
		     "a non-empty string" },                                                       \
	[M_LABELS] = { "labels", SHAPE_LIST, labels_required, set_labels, 0, "a list of labels" }, \
	[M_MAX_SERIES] = { "max_series",                                                           \
			   SHAPE_SCALAR,                                                           \
			   false,                                                                  \
			   set_max_series,                                                         \
			   offsetof(struct bb_metric_conf, max_series),                            \
			   "a positive integer of at most 4294967295" }

static const struct field counter_fields[C_COUNT] = {
	METRIC_COMMON_FIELDS(false),
	[C_PERF_EVENT_ARRAY] = { "perf_event_array", SHAPE_SCALAR, false, set_bool,
				 offsetof(struct bb_metric_conf, perf_event_array),
				 "true or false" },
	/* Only meaningful with perf_event_array: checked by check_counter(). */
	[C_FLUSH_INTERVAL] = { "flush_interval", SHAPE_SCALAR, false, set_duration,
			       offsetof(struct bb_metric_conf, flush_interval_ns),
			       "a duration such as 30s, 5m or 1h30m" },
};

static const struct field histogram_fields[H_COUNT] = {
	METRIC_COMMON_FIELDS(true),
	[H_BUCKET_TYPE] = { "bucket_type", SHAPE_SCALAR, true, set_bucket_type,
			    offsetof(struct bb_metric_conf, bucket_type),
			    "one of exp2, exp2zero, linear, fixed" },
	[H_BUCKET_MIN] = { "bucket_min", SHAPE_SCALAR, false, set_bucket_bound,
			   offsetof(struct bb_metric_conf, bucket_min),
			   "an integer from 0 to 1023" },
	[H_BUCKET_MAX] = { "bucket_max", SHAPE_SCALAR, false, set_bucket_bound,
			   offsetof(struct bb_metric_conf, bucket_max),
			   "an integer from 0 to 1023" },
	[H_BUCKET_MULTIPLIER] = { "bucket_multiplier", SHAPE_SCALAR, false, set_multiplier,
				  offsetof(struct bb_metric_conf, bucket_multiplier),
				  "a positive number" },
	[H_BUCKET_KEYS] = { "bucket_keys", SHAPE_LIST, false, set_bucket_keys, 0,
			    "a list of bucket keys" },
	[H_FLAT_INDEX] = { "flat_index", SHAPE_SCALAR, false, set_bool,
			   offsetof(struct bb_metric_conf, flat_index), "true or false" },
};

static int check_counter(struct pctx *c, const struct bb_metric_conf *m, const struct seen *s)
{
	size_t mark;

	if (!s[C_FLUSH_INTERVAL].key || m->perf_event_array)
		return 0;
	mark = push_key(c, "flush_interval");
	fail(c, pos_of(s[C_FLUSH_INTERVAL].val),
	     "expected only together with perf_event_array: true, got %s without it",
	     describe(c, s[C_FLUSH_INTERVAL].val));
	pop(c, mark);
	return -1;
}

/*
 * flat_index: the slot number is split into one series label and the bucket,
 * so the bucket keys must be indexes (not fixed bounds) and exactly one label
 * may come before the bucket, an integer the reader can write back.
 */
static int check_flat_index(struct pctx *c, const struct bb_metric_conf *m, const struct seen *s)
{
	const yaml_node_t *at = s[H_FLAT_INDEX].val;
	size_t mark;

	if (!m->flat_index)
		return 0;
	mark = push_key(c, "flat_index");
	if (m->bucket_type == BB_BUCKET_FIXED)
		fail(c, pos_of(at),
		     "expected bucket_type exp2, exp2zero or linear with flat_index: true (slots "
		     "are bucket indexes), got bucket_type fixed");
	else if (m->n_labels != 2)
		fail(c, pos_of(at),
		     "expected exactly one label before the bucket label with flat_index: true "
		     "(slot = label * (bucket_max + 2) + bucket), got %zu labels in all",
		     m->n_labels);
	else
		for (size_t l = 0; l < 2 && !c->rc; l++) {
			uint32_t size = m->labels[l].size;

			if (size != 1 && size != 2 && size != 4 && size != 8)
				fail(c, pos_of(at),
				     "expected %s %s to be an integer of size 1, 2, 4 or 8 with "
				     "flat_index: true, got size %u",
				     l ? "the bucket label" : "label", m->labels[l].name, size);
		}
	pop(c, mark);
	return c->rc ? -1 : 0;
}

static int check_histogram(struct pctx *c, const struct bb_metric_conf *m, const struct seen *s)
{
	const char *type = bb_bucket_type_name(m->bucket_type);
	const yaml_node_t *at;
	double top;
	size_t mark;

	if (m->bucket_type == BB_BUCKET_FIXED) {
		/* bucket_min/bucket_max are accepted and ignored, as ebpf_exporter does. */
		if (!s[H_BUCKET_KEYS].key) {
			fail(c, m->pos,
			     "expected key \"bucket_keys\" for bucket_type fixed, got a mapping "
			     "without it");
			return -1;
		}
		top = m->bucket_multiplier * m->bucket_keys[m->n_bucket_keys - 1];
		at = s[H_BUCKET_KEYS].val;
		mark = push_key(c, "bucket_keys");
	} else {
		if (s[H_BUCKET_KEYS].key) {
			mark = push_key(c, "bucket_keys");
			fail(c, pos_of(s[H_BUCKET_KEYS].val),
			     "expected only with bucket_type fixed, got bucket_type %s", type);
			pop(c, mark);
			return -1;
		}
		if (!s[H_BUCKET_MAX].key) {
			fail(c, m->pos,
			     "expected key \"bucket_max\" for bucket_type %s, got a mapping "
			     "without it",
			     type);
			return -1;
		}
		if (m->bucket_min > m->bucket_max) {
			mark = push_key(c, "bucket_min");
			fail(c, pos_of(s[H_BUCKET_MIN].val),
			     "expected at most bucket_max (%lld), got %lld",
			     (long long)m->bucket_max, (long long)m->bucket_min);
			pop(c, mark);
			return -1;
		}
		/* Raw bounds are int64: 2^62 is the largest exp2 bound, 2^62 for exp2zero at 63. */
		if ((m->bucket_type == BB_BUCKET_EXP2 && m->bucket_max > 62) ||
		    (m->bucket_type == BB_BUCKET_EXP2ZERO && m->bucket_max > 63)) {
			mark = push_key(c, "bucket_max");
			fail(c, pos_of(s[H_BUCKET_MAX].val),
			     "expected at most %d for bucket_type %s (bounds are 64-bit), got %lld",
			     m->bucket_type == BB_BUCKET_EXP2 ? 62 : 63, type,
			     (long long)m->bucket_max);
			pop(c, mark);
			return -1;
		}
		if (m->bucket_type == BB_BUCKET_EXP2)
			top = ldexp(m->bucket_multiplier, (int)m->bucket_max);
		else if (m->bucket_type == BB_BUCKET_EXP2ZERO)
			top = m->bucket_max ? ldexp(m->bucket_multiplier, (int)m->bucket_max - 1)
					    : 0;
		else
			top = m->bucket_multiplier * (double)m->bucket_max;
		at = s[H_BUCKET_MAX].val;
		mark = push_key(c, "bucket_max");
	}
	if (!isfinite(top))
		fail(c, pos_of(at),
		     "expected a top bucket bound that fits a double, got one beyond %g with "
		     "bucket_multiplier %g",
		     1.7976931348623157e308, m->bucket_multiplier);
	pop(c, mark);
	return c->rc ? -1 : 0;
}

struct metrics_fill {
	struct bb_config *cfg;
	size_t base;
	enum bb_metric_kind kind;
	struct refs *names;
};

_Static_assert((int)H_COUNT >= (int)C_COUNT, "metric_item() sizes seen[] for histograms");

static int metric_item(struct pctx *c, const yaml_node_t *item, size_t i, void *obj)
{
	struct metrics_fill *mf = obj;
	struct bb_metric_conf *m = &mf->cfg->metrics[mf->base + i];
	struct seen s[H_COUNT]; /* the longer table */

	m->kind = mf->kind;
	m->pos = pos_of(item);
	m->bucket_multiplier = 1.0;
	if (m->kind == BB_METRIC_COUNTER) {
		if (walk_map(c, item, counter_fields, C_COUNT, m, s) || check_counter(c, m, s))
			return -1;
	} else {
		if (walk_map(c, item, histogram_fields, H_COUNT, m, s) ||
		    check_histogram(c, m, s) || check_flat_index(c, m, s))
			return -1;
	}
	return add_ref(c, mf->names, m->name, pos_of(s[M_NAME].val), m->kind, i, 0);
}

static const struct list_spec counters_spec = {
	0, SHAPE_MAP, "a list of counters", "a mapping describing a counter", metric_item,
};

static const struct list_spec histograms_spec = {
	0, SHAPE_MAP, "a list of histograms", "a mapping describing a histogram", metric_item,
};

enum { MS_COUNTERS, MS_HISTOGRAMS, MS_COUNT };

static const struct field metrics_fields[MS_COUNT] = {
	/* Filled by set_metrics() itself: counters go first whatever the file order. */
	[MS_COUNTERS] = { "counters", SHAPE_LIST, false, NULL, 0, "a list of counters" },
	[MS_HISTOGRAMS] = { "histograms", SHAPE_LIST, false, NULL, 0, "a list of histograms" },
};

static const char *set_metrics(struct pctx *c, const yaml_node_t *val, void *dst)
{
	static const char *const kind_keys[] = { "counters", "histograms" };
	struct bb_config *cfg = dst;
	struct refs names = { 0 };
	const struct name_ref *rep, *first = NULL;
	struct seen s[MS_COUNT];
	size_t nc, nh, mark;

	if (walk_map(c, val, metrics_fields, MS_COUNT, cfg, s))
		return reported;
	nc = s[MS_COUNTERS].val ? list_len(s[MS_COUNTERS].val) : 0;
	nh = s[MS_HISTOGRAMS].val ? list_len(s[MS_HISTOGRAMS].val) : 0;
	if (!nc && !nh)
		return frag(c, "expected at least one counter or histogram, got none");
	cfg->metrics = zalloc(c, nc + nh, sizeof(*cfg->metrics));
	if (c->rc)
		return reported;
	cfg->n_metrics = nc + nh;
	for (size_t k = 0; k < 2 && !c->rc; k++) {
		struct metrics_fill mf = { cfg, k ? nc : 0,
					   k ? BB_METRIC_HISTOGRAM : BB_METRIC_COUNTER, &names };

		if (!s[k].val)
			continue;
		mark = push_key(c, kind_keys[k]);
		walk_list(c, s[k].val, k ? &histograms_spec : &counters_spec, &mf);
		pop(c, mark);
	}
	if (!c->rc && (rep = find_repeat(&names, &first))) {
		mark = push_key(c, kind_keys[rep->idx[0] == BB_METRIC_HISTOGRAM]);
		push_index(c, rep->idx[1]);
		push_key(c, "name");
		fail(c, rep->pos,
		     "expected a unique metric name, got \"%s\" again (first at %d:%d)", rep->s,
		     first->pos.line, first->pos.column);
		pop(c, mark);
	}
	refs_free(&names);
	return c->rc ? reported : NULL;
}

/* kaddrs */

struct kaddrs_fill {
	struct bb_config *cfg;
	struct refs names;
};

static int kaddr_item(struct pctx *c, const yaml_node_t *item, size_t i, void *obj)
{
	struct kaddrs_fill *kf = obj;
	const char *msg = get_ident(c, item, &kf->cfg->kaddrs[i]);

	if (msg) {
		if (msg != reported)
			fail(c, pos_of(item), "%s", msg);
		return -1;
	}
	return add_ref(c, &kf->names, kf->cfg->kaddrs[i], pos_of(item), i, 0, 0);
}

static const struct list_spec kaddrs_spec = {
	0, SHAPE_SCALAR, "a list of kernel symbol names", "a kernel symbol name", kaddr_item,
};

static const char *set_kaddrs(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct kaddrs_fill kf = { dst, { 0 } };
	const struct name_ref *rep, *first = NULL;
	size_t mark;

	kf.cfg->kaddrs = zalloc(c, list_len(val), sizeof(char *));
	if (c->rc)
		return reported;
	kf.cfg->n_kaddrs = list_len(val);
	if (!walk_list(c, val, &kaddrs_spec, &kf) && (rep = find_repeat(&kf.names, &first))) {
		mark = push_index(c, rep->idx[0]);
		fail(c, rep->pos, "expected each symbol once, got \"%s\" again (first at %d:%d)",
		     rep->s, first->pos.line, first->pos.column);
		pop(c, mark);
	}
	refs_free(&kf.names);
	return c->rc ? reported : NULL;
}

/* hooks */

static int add_program(struct pctx *c, const yaml_node_t *n, size_t alt, size_t k, char **out)
{
	const char *msg = get_ident(c, n, out);

	if (msg) {
		if (msg != reported)
			fail(c, pos_of(n), "%s", msg);
		return -1;
	}
	return add_ref(c, c->programs, *out, pos_of(n), c->hook_index, alt, k);
}

static int alternative_item(struct pctx *c, const yaml_node_t *item, size_t i, void *obj)
{
	struct bb_hook_conf *h = obj;
	struct bb_alternative *a = &h->alternatives[i];
	size_t n, mark;

	a->pos = pos_of(item);
	if (item->type == YAML_SCALAR_NODE) {
		a->programs = zalloc(c, 1, sizeof(char *));
		if (c->rc)
			return -1;
		a->n_programs = 1;
		return add_program(c, item, i, SIZE_MAX, &a->programs[0]);
	}
	n = list_len(item);
	if (!n) {
		fail(c, a->pos, "expected a list of at least one program name, got an empty list");
		return -1;
	}
	if (!spend(c, item, n))
		return -1;
	a->programs = zalloc(c, n, sizeof(char *));
	if (c->rc)
		return -1;
	a->n_programs = n;
	for (size_t k = 0; k < n; k++) {
		int rc;

		mark = push_index(c, k);
		rc = add_program(c, list_item(c, item, k), i, k, &a->programs[k]);
		pop(c, mark);
		if (rc)
			return -1;
	}
	return 0;
}

static const struct list_spec alternatives_spec = {
	1,
	SHAPE_SCALAR | SHAPE_LIST,
	"a list of at least one alternative",
	"a program name or a list of program names",
	alternative_item,
};

static const char *set_alternatives(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct bb_hook_conf *h = dst;

	h->alternatives = zalloc(c, list_len(val), sizeof(*h->alternatives));
	if (c->rc)
		return reported;
	h->n_alternatives = list_len(val);
	return walk_list(c, val, &alternatives_spec, h) ? reported : NULL;
}

enum { K_NAME, K_ALTERNATIVES, K_COUNT };

static const struct field hook_fields[K_COUNT] = {
	[K_NAME] = { "name", SHAPE_SCALAR, true, set_text, offsetof(struct bb_hook_conf, name),
		     "a non-empty string" },
	[K_ALTERNATIVES] = { "alternatives", SHAPE_LIST, true, set_alternatives, 0,
			     "a list of alternatives" },
};

struct hooks_fill {
	struct bb_config *cfg;
	struct refs names;
};

static int hook_item(struct pctx *c, const yaml_node_t *item, size_t i, void *obj)
{
	struct hooks_fill *hf = obj;
	struct bb_hook_conf *h = &hf->cfg->hooks[i];
	struct seen s[K_COUNT];

	h->pos = pos_of(item);
	c->hook_index = i;
	if (walk_map(c, item, hook_fields, K_COUNT, h, s))
		return -1;
	return add_ref(c, &hf->names, h->name, pos_of(s[K_NAME].val), i, 0, 0);
}

static const struct list_spec hooks_spec = {
	0, SHAPE_MAP, "a list of hooks", "a mapping describing a hook", hook_item,
};

static const char *set_hooks(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct hooks_fill hf = { dst, { 0 } };
	struct refs programs = { 0 };
	const struct name_ref *rep, *first = NULL;
	size_t mark;

	hf.cfg->hooks = zalloc(c, list_len(val), sizeof(*hf.cfg->hooks));
	if (c->rc)
		return reported;
	hf.cfg->n_hooks = list_len(val);
	c->programs = &programs;
	if (!walk_list(c, val, &hooks_spec, &hf)) {
		if ((rep = find_repeat(&hf.names, &first))) {
			mark = push_index(c, rep->idx[0]);
			push_key(c, "name");
			fail(c, rep->pos,
			     "expected a unique hook name, got \"%s\" again (first at %d:%d)",
			     rep->s, first->pos.line, first->pos.column);
			pop(c, mark);
		} else if ((rep = find_repeat(&programs, &first))) {
			/* A program in two places could be both chosen and disabled. */
			mark = push_index(c, rep->idx[0]);
			push_key(c, "alternatives");
			push_index(c, rep->idx[1]);
			if (rep->idx[2] != SIZE_MAX)
				push_index(c, rep->idx[2]);
			fail(c, rep->pos,
			     "expected each program in one alternative only, got \"%s\" again "
			     "(first at %d:%d)",
			     rep->s, first->pos.line, first->pos.column);
			pop(c, mark);
		}
	}
	c->programs = NULL;
	refs_free(&programs);
	refs_free(&hf.names);
	return c->rc ? reported : NULL;
}

/* cgroup_id_map */

static int cgroup_regexp_item(struct pctx *c, const yaml_node_t *item, size_t i, void *obj)
{
	struct bb_cgroup_id_map_conf *m = obj;
	const char *text, *msg = get_text(c, item, "a regular expression", &text);
	char why[128];
	regex_t re;
	int rc;

	if (!msg)
		msg = copy_text(c, text, &m->regexps[i]);
	if (!msg) {
		rc = regcomp(&re, text, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			regerror(rc, &re, why, sizeof(why));
			msg = frag(c, "expected a POSIX extended regular expression, got %s (%s)",
				   describe(c, item), why);
		} else {
			regfree(&re);
		}
	}
	if (msg && msg != reported)
		fail(c, pos_of(item), "%s", msg);
	return msg ? -1 : 0;
}

static const struct list_spec cgroup_regexps_spec = {
	1,
	SHAPE_SCALAR,
	"a list of at least one regular expression",
	"a regular expression",
	cgroup_regexp_item,
};

static const char *set_cgroup_regexps(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct bb_cgroup_id_map_conf *m = dst;

	m->regexps = zalloc(c, list_len(val), sizeof(char *));
	if (c->rc)
		return reported;
	m->n_regexps = list_len(val);
	return walk_list(c, val, &cgroup_regexps_spec, m) ? reported : NULL;
}

static const char *set_cgroup_map_type(struct pctx *c, const yaml_node_t *val, void *dst)
{
	enum bb_cgroup_map_type *t = dst;
	const char *text, *msg = get_plain(c, val, "hash or cgrp_storage", &text);

	if (msg)
		return msg;
	if (!strcmp(text, "hash"))
		*t = BB_CGROUP_MAP_HASH;
	else if (!strcmp(text, "cgrp_storage"))
		*t = BB_CGROUP_MAP_CGRP_STORAGE;
	else
		return frag(c, "expected hash or cgrp_storage, got %s", describe(c, val));
	return NULL;
}

enum { G_NAME, G_TYPE, G_REGEXPS, G_COUNT };

static const struct field cgroup_id_map_fields[G_COUNT] = {
	[G_NAME] = { "name", SHAPE_SCALAR, true, set_ident,
		     offsetof(struct bb_cgroup_id_map_conf, name), EXPECT_IDENT },
	[G_TYPE] = { "type", SHAPE_SCALAR, false, set_cgroup_map_type,
		     offsetof(struct bb_cgroup_id_map_conf, type), "hash or cgrp_storage" },
	[G_REGEXPS] = { "regexps", SHAPE_LIST, true, set_cgroup_regexps, 0,
			"a list of regular expressions" },
};

static const char *set_cgroup_id_map(struct pctx *c, const yaml_node_t *val, void *dst)
{
	struct bb_config *cfg = dst;
	struct seen s[G_COUNT];

	cfg->cgroup_id_map = zalloc(c, 1, sizeof(*cfg->cgroup_id_map));
	if (c->rc)
		return reported;
	cfg->cgroup_id_map->pos = pos_of(val);
	return walk_map(c, val, cgroup_id_map_fields, G_COUNT, cfg->cgroup_id_map, s) ? reported
										      : NULL;
}

/* The document */

enum { R_METRICS, R_KADDRS, R_HOOKS, R_NAME, R_TRACING, R_CGROUP_ID_MAP, R_COUNT };

static const struct field root_fields[R_COUNT] = {
	[R_METRICS] = { "metrics", SHAPE_MAP, true, set_metrics, 0,
			"a mapping with counters and/or histograms" },
	[R_KADDRS] = { "kaddrs", SHAPE_LIST, false, set_kaddrs, 0,
		       "a list of kernel symbol names" },
	[R_HOOKS] = { "hooks", SHAPE_LIST, false, set_hooks, 0, "a list of hooks" },
	/* ebpf_exporter's; the config's name comes from the file name. */
	[R_NAME] = { "name", SHAPE_SCALAR, false, NULL, 0, "a string" },
	/* ebpf_exporter features bpfbridge does not have: accepted with a warning. */
	[R_TRACING] = { "tracing", SHAPE_ANY, false, NULL, 0, "anything" },
	[R_CGROUP_ID_MAP] = { "cgroup_id_map", SHAPE_MAP, false, set_cgroup_id_map, 0,
			      "a mapping with name, type and regexps" },
};

/* The key node named NAME in mapping MAP, or NULL. */
static const yaml_node_t *map_key(struct pctx *c, const yaml_node_t *map, const char *name)
{
	for (const yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	     pr < map->data.mapping.pairs.top; pr++) {
		const yaml_node_t *k = node_at(c, pr->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, name))
			return k;
	}
	return NULL;
}

/* ebpf_exporter's tracing-only configs export spans, which bpfbridge cannot:
 * say so, instead of "expected key metrics". */
static int tracing_only(struct pctx *c, const yaml_node_t *root)
{
	const yaml_node_t *tracing = map_key(c, root, "tracing");
	size_t mark;

	if (!tracing || map_key(c, root, "metrics"))
		return 0;
	mark = push_key(c, "tracing");
	fail(c, pos_of(tracing),
	     "expected key \"metrics\", got a tracing-only config (tracing spans are not "
	     "supported by bpfbridge, which exports metrics only; run this config under "
	     "ebpf_exporter, or add metrics to it)");
	pop(c, mark);
	return -1;
}

/* Line and column of byte OFFSET, for reader errors (which carry no mark). */
static struct bb_pos pos_at_offset(const char *buf, size_t len, size_t offset)
{
	struct bb_pos p = { 1, 1 };

	for (size_t i = 0; i < offset && i < len; i++) {
		if (buf[i] == '\n') {
			p.line++;
			p.column = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			p.column++;
		}
	}
	return p;
}

static void syntax_error(struct pctx *c, const yaml_parser_t *p, const char *buf, size_t len)
{
	const char *problem = p->problem ? p->problem : "an unknown error";
	struct bb_pos pos = { (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1 };

	if (p->error == YAML_MEMORY_ERROR) {
		oom(c);
	} else if (p->error == YAML_READER_ERROR) {
		pos = pos_at_offset(buf, len, p->problem_offset);
		if (p->problem_value != -1)
			fail(c, pos, "expected printable UTF-8 text, got \"%s\" (value 0x%x)",
			     problem, (unsigned)p->problem_value);
		else
			fail(c, pos, "expected printable UTF-8 text, got \"%s\"", problem);
	} else if (p->context) {
		fail(c, pos, "expected valid YAML, got \"%s\" (%s at %d:%d)", problem, p->context,
		     (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
	} else {
		fail(c, pos, "expected valid YAML, got \"%s\"", problem);
	}
}

/* A pass over the events: refuse nesting and anchor counts that libyaml handles slowly. */
static int check_structure(struct pctx *c, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0;
	size_t anchors = 0;
	bool done = false;

	if (!yaml_parser_initialize(&parser)) {
		oom(c);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && !c->rc) {
		struct bb_pos at;
		const yaml_char_t *anchor = NULL;

		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(c, &parser, buf, len);
			break;
		}
		at = (struct bb_pos){ (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1 };
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
			anchor = ev.data.sequence_start.anchor;
			depth++;
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = ev.data.mapping_start.anchor;
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		if (depth > MAX_DEPTH)
			fail(c, at, "expected at most %d nested lists and mappings, got more",
			     MAX_DEPTH);
		else if (anchor && ++anchors > MAX_ANCHORS)
			fail(c, at, "expected at most %d anchors, got more", MAX_ANCHORS);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return c->rc ? -1 : 0;
}

/* NAME, yaml_path and object_path from PATH: DIR/NAME.yaml -> DIR/NAME.bpf.o. */
static int set_paths(struct pctx *c, struct bb_config *cfg, const char *path)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	size_t dirlen = (size_t)(base - path), blen = strlen(base);

	if (blen >= 5 && !strcmp(base + blen - 5, ".yaml"))
		blen -= 5;
	else if (blen >= 4 && !strcmp(base + blen - 4, ".yml"))
		blen -= 4;
	if (!blen) {
		c->rc = -EINVAL;
		snprintf(c->err, c->errlen, "%s: expected a path to NAME.yaml, got no file name",
			 path);
		return -1;
	}
	cfg->name = strndup(base, blen);
	cfg->yaml_path = strdup(path);
	cfg->object_path = malloc(dirlen + blen + sizeof(".bpf.o"));
	if (!cfg->name || !cfg->yaml_path || !cfg->object_path) {
		oom(c);
		return -1;
	}
	memcpy(cfg->object_path, path, dirlen);
	memcpy(cfg->object_path + dirlen, base, blen);
	memcpy(cfg->object_path + dirlen + blen, ".bpf.o", sizeof(".bpf.o"));
	return 0;
}

/* Returns -1 on failure, with c->rc and the message set. */
static int parse_document(struct pctx *c, yaml_parser_t *parser, struct bb_config *cfg,
			  const char *buf, size_t len)
{
	int rc = -1;

	yaml_document_t doc, extra;
	const yaml_node_t *root, *second;
	struct seen s[R_COUNT];
	struct bb_pos at;

	if (!yaml_parser_load(parser, &doc)) {
		syntax_error(c, parser, buf, len);
		return -1;
	}
	c->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		fail(c, (struct bb_pos){ 1, 1 },
		     "expected a mapping with key \"metrics\", got an empty document");
		goto out;
	}
	/* A second document would be silently ignored: refuse it (syntax errors there too). */
	if (!yaml_parser_load(parser, &extra)) {
		syntax_error(c, parser, buf, len);
		goto out;
	}
	second = yaml_document_get_root_node(&extra);
	if (second) {
		at = pos_of(second);
		fail(c, at, "expected a single document, got a second one");
	}
	yaml_document_delete(&extra);
	if (c->rc)
		goto out;
	if (root->type != YAML_MAPPING_NODE) {
		fail(c, pos_of(root), "expected a mapping with key \"metrics\", got %s",
		     describe(c, root));
		goto out;
	}
	c->nodes_total =
		ALIAS_EXPANSION * (size_t)(doc.nodes.top - doc.nodes.start) + ALIAS_SLACK_NODES;
	c->nodes_left = c->nodes_total;
	c->bytes_total = ALIAS_EXPANSION * len + ALIAS_SLACK_BYTES;
	c->bytes_left = c->bytes_total;
	if (tracing_only(c, root) || walk_map(c, root, root_fields, R_COUNT, cfg, s))
		goto out;
	if (s[R_TRACING].key)
		bb_warn("%s:%d:%d: %s: not supported by bpfbridge, ignored", c->path,
			pos_of(s[R_TRACING].key).line, pos_of(s[R_TRACING].key).column,
			root_fields[R_TRACING].key);
	rc = 0;
out:
	yaml_document_delete(&doc);
	c->doc = NULL;
	return rc;
}

int bb_config_parse(const char *path, const char *buf, size_t len, struct bb_config **out,
		    char *err, size_t errlen)
{
	char local_err[BB_ERRMSG_MAX];
	struct pctx c = { 0 };
	struct bb_config *cfg;
	yaml_parser_t parser;

	if (!err || !errlen) {
		err = local_err;
		errlen = sizeof(local_err);
	}
	err[0] = '\0';
	c.path = path ? path : "(config)";
	c.err = err;
	c.errlen = errlen;
	if (!out || (!buf && len)) {
		snprintf(err, errlen, "%s: invalid arguments", c.path);
		return -EINVAL;
	}
	*out = NULL;
	if (len > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: expected a config of at most %d bytes, got %zu bytes",
			 c.path, CONFIG_MAX_BYTES, len);
		return -EFBIG;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		oom(&c);
		return c.rc;
	}
	if (set_paths(&c, cfg, c.path))
		goto out;
	c.c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!c.c_locale) {
		oom(&c);
		goto out;
	}
	if (check_structure(&c, buf ? buf : "", len))
		goto out;
	if (!yaml_parser_initialize(&parser)) {
		oom(&c);
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""), len);
	if (parse_document(&c, &parser, cfg, buf ? buf : "", len) && !c.rc) {
		/* Every failure path sets a message; never return a half-checked config. */
		c.rc = -EINVAL;
		snprintf(err, errlen, "%s: config rejected (internal error: no message)", c.path);
	}
	yaml_parser_delete(&parser);
out:
	if (c.c_locale)
		freelocale(c.c_locale);
	if (c.rc) {
		bb_config_free(cfg);
		return c.rc;
	}
	*out = cfg;
	return 0;
}

int bb_config_load(const char *path, struct bb_config **out, char *err, size_t errlen)
{
	char local_err[BB_ERRMSG_MAX];
	size_t len = 0, cap;
	struct stat st;
	char *buf = NULL;
	int fd, rc;

	if (!err || !errlen) {
		err = local_err;
		errlen = sizeof(local_err);
	}
	if (out)
		*out = NULL;
	if (!path || !out) {
		snprintf(err, errlen, "%s: invalid arguments", path ? path : "(config)");
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, bb_strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st)) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, bb_strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		snprintf(err, errlen, "%s: expected a regular file, got %s", path,
			 S_ISDIR(st.st_mode) ? "a directory" : "a special file");
		goto out;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		rc = -EFBIG;
		snprintf(err, errlen, "%s: expected a config of at most %d bytes, got %lld bytes",
			 path, CONFIG_MAX_BYTES, (long long)st.st_size);
		goto out;
	}
	/* Read up to one byte past the limit: the file may grow after fstat(). */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	while (buf && len <= CONFIG_MAX_BYTES) {
		ssize_t n;

		if (len == cap) {
			size_t bigger_cap = 2 * cap > CONFIG_MAX_BYTES + 1 ? CONFIG_MAX_BYTES + 1
									   : 2 * cap;
			char *bigger = realloc(buf, bigger_cap);

			if (!bigger) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = bigger;
			cap = bigger_cap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: cannot read: %s", path, bb_strerror(-rc));
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if (len > CONFIG_MAX_BYTES) {
		rc = -EFBIG;
		snprintf(err, errlen, "%s: expected a config of at most %d bytes, got more", path,
			 CONFIG_MAX_BYTES);
		goto out;
	}
	rc = bb_config_parse(path, buf, len, out, err, errlen);
out:
	free(buf);
	close(fd);
	return rc;
}

char *bb_config_path(const char *dir, const char *name)
{
	size_t nlen, dlen;
	char *path;

	if (!name || !*name) {
		errno = EINVAL;
		return NULL;
	}
	if (strchr(name, '/'))
		return strdup(name);
	nlen = strlen(name);
	if (nlen >= 5 && !strcmp(name + nlen - 5, ".yaml"))
		nlen -= 5;
	if (!nlen) {
		errno = EINVAL;
		return NULL;
	}
	if (!dir || !*dir)
		dir = "";
	dlen = strlen(dir);
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	path = malloc(dlen + 1 + nlen + sizeof(".yaml"));
	if (!path)
		return NULL;
	snprintf(path, dlen + 1 + nlen + sizeof(".yaml"), "%.*s%s%.*s.yaml", (int)dlen, dir,
		 dlen && dir[dlen - 1] != '/' ? "/" : "", (int)nlen, name);
	return path;
}

static void free_decoder(struct bb_decoder_conf *d)
{
	bb_decoder_release(d);
	free(d->name);
	for (size_t i = 0; i < d->n_static_map; i++) {
		free(d->static_map[i].key);
		free(d->static_map[i].value);
	}
	free(d->static_map);
	for (size_t i = 0; i < d->n_regexps; i++)
		free(d->regexps[i]);
	free(d->regexps);
}

static void free_metric(struct bb_metric_conf *m)
{
	for (size_t i = 0; i < m->n_labels; i++) {
		struct bb_label_conf *l = &m->labels[i];

		for (size_t j = 0; j < l->n_decoders; j++)
			free_decoder(&l->decoders[j]);
		free(l->decoders);
		free(l->name);
	}
	free(m->labels);
	free(m->name);
	free(m->help);
	free(m->bucket_keys);
}

void bb_config_free(struct bb_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_metrics; i++)
		free_metric(&cfg->metrics[i]);
	free(cfg->metrics);
	for (size_t i = 0; i < cfg->n_kaddrs; i++)
		free(cfg->kaddrs[i]);
	free(cfg->kaddrs);
	for (size_t i = 0; i < cfg->n_hooks; i++) {
		struct bb_hook_conf *h = &cfg->hooks[i];

		for (size_t j = 0; j < h->n_alternatives; j++) {
			for (size_t k = 0; k < h->alternatives[j].n_programs; k++)
				free(h->alternatives[j].programs[k]);
			free(h->alternatives[j].programs);
		}
		free(h->alternatives);
		free(h->name);
	}
	free(cfg->hooks);
	if (cfg->cgroup_id_map) {
		for (size_t i = 0; i < cfg->cgroup_id_map->n_regexps; i++)
			free(cfg->cgroup_id_map->regexps[i]);
		free(cfg->cgroup_id_map->regexps);
		free(cfg->cgroup_id_map->name);
		free(cfg->cgroup_id_map);
	}
	free(cfg->name);
	free(cfg->yaml_path);
	free(cfg->object_path);
	free(cfg);
}

const char *bb_bucket_type_name(enum bb_bucket_type t)
{
	switch (t) {
	case BB_BUCKET_EXP2:
		return "exp2";
	case BB_BUCKET_EXP2ZERO:
		return "exp2zero";
	case BB_BUCKET_LINEAR:
		return "linear";
	case BB_BUCKET_FIXED:
		return "fixed";
	}
	return "unknown";
}

const char *bb_cgroup_map_type_name(enum bb_cgroup_map_type t)
{
	return t == BB_CGROUP_MAP_CGRP_STORAGE ? "cgrp_storage" : "hash";
}

const char *bb_metric_kind_name(enum bb_metric_kind k)
{
	switch (k) {
	case BB_METRIC_COUNTER:
		return "counter";
	case BB_METRIC_HISTOGRAM:
		return "histogram";
	case BB_METRIC_GAUGE:
		return "gauge";
	}
	return "unknown";
}
