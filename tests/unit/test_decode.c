/* SPDX-License-Identifier: MIT */
/* Label decoders: every decoder, its malformed inputs, and the shared caches. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <cmocka.h>

#include "decode.h"
#include "syscalls_table.h"

#ifndef BB_TEST_DATA_DIR
#error "BB_TEST_DATA_DIR must point at tests/unit/data"
#endif
#define DATA BB_TEST_DATA_DIR "/decode/"

/* Raw key bytes below are written little-endian, as on x86_64 and arm64. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "these fixtures assume a little-endian host"
#endif

/* Not in decode.h: lets the refresh tests avoid sleeping (defined in decode.c). */

#if defined(__x86_64__)
#define NR_IOPRIO_GET "\xfc\x00\x00\x00\x00\x00\x00\x00" /* 252 */
#define NR_IOPRIO_GET_TEXT "252"
#elif defined(__aarch64__)
#define NR_IOPRIO_GET "\x1f\x00\x00\x00\x00\x00\x00\x00" /* 31 */
#define NR_IOPRIO_GET_TEXT "31"
#else
#error "syscall tables exist for x86_64 and aarch64 only"
#endif

static struct bb_static_entry test_map[] = {
	{ (char *)"1", (char *)"read" },
	{ (char *)"2", (char *)"write" },
	{ (char *)"6162", (char *)"hex-ab" },
	{ (char *)"sda", (char *)"system disk" },
};
static char *test_regexps[] = { (char *)"^sd[a-z]+$", (char *)"^nvme" };

/*
 * Build a label from "dec1,dec2,..." (static_map and regexp get the maps
 * above; "static_map+" also sets allow_unknown), prepare every decoder,
 * decode, release.
 */
static enum bb_decode_status decode_chain(struct bb_decode_ctx *ctx, const char *chain,
					  bool allow_unknown, const void *raw, uint32_t size,
					  char *out, size_t outlen, char *err, size_t errlen)
{
	struct bb_decoder_conf decs[8];
	struct bb_label_conf label = { .name = (char *)"l", .size = size, .decoders = decs };
	char names[128], *tok, *save = NULL;
	enum bb_decode_status st;
	char perr[BB_ERRMSG_MAX];
	size_t i;

	memset(decs, 0, sizeof(decs));
	snprintf(names, sizeof(names), "%s", chain);
	for (tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct bb_decoder_conf *d = &decs[label.n_decoders++];

		assert_true(label.n_decoders <= 8);
		d->name = tok;
		if (!strcmp(tok, "static_map+")) {
			tok[strlen(tok) - 1] = '\0';
			allow_unknown = true;
		}
		if (!strcmp(tok, "static_map")) {
			d->static_map = test_map;
			d->n_static_map = sizeof(test_map) / sizeof(test_map[0]);
			d->allow_unknown = allow_unknown;
		} else if (!strcmp(tok, "regexp")) {
			d->regexps = test_regexps;
			d->n_regexps = 2;
		}
		if (bb_decoder_prepare(d, perr, sizeof(perr)) != 0)
			fail_msg("prepare %s: %s", tok, perr);
	}
	st = bb_decode_label(ctx, &label, raw, out, outlen, err, errlen);
	for (i = 0; i < label.n_decoders; i++)
		bb_decoder_release(&decs[i]);
	return st;
}

struct decode_case {
	const char *chain;
	const char *raw;
	uint32_t size;
	enum bb_decode_status status;
	const char *expect; /* output, or for errors a substring of the message */
};

static void run_cases(struct bb_decode_ctx *ctx, const struct decode_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct decode_case *c = &cases[i];
		char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
		enum bb_decode_status st;

		memset(out, 'X', sizeof(out));
		st = decode_chain(ctx, c->chain, false, c->raw, c->size, out, sizeof(out), err,
				  sizeof(err));
		if (st != c->status)
			fail_msg("case %zu (%s): status %d, want %d (out \"%s\", err \"%s\")", i,
				 c->chain, st, c->status, st == BB_DECODE_OK ? out : "", err);
		if (c->status == BB_DECODE_ERROR) {
			if (!strstr(err, c->expect))
				fail_msg("case %zu (%s): error \"%s\" lacks \"%s\"", i, c->chain,
					 err, c->expect);
			assert_string_equal(out, "");
		} else if (c->status == BB_DECODE_OK) {
			if (strcmp(out, c->expect) != 0)
				fail_msg("case %zu (%s): got \"%s\", want \"%s\"", i, c->chain, out,
					 c->expect);
		} else {
			assert_string_equal(out, "");
		}
	}
}

#define RAW(s) s, sizeof(s) - 1

static void test_names(void **state)
{
	char list[512], *tok, *save = NULL;
	int n = 0;

	(void)state;
	snprintf(list, sizeof(list), "%s", bb_decoder_names());
	for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		assert_true(bb_decoder_known(tok));
		n++;
	}
	assert_int_equal(n, 18);
	assert_false(bb_decoder_known("kubecontext"));
	assert_false(bb_decoder_known(""));
	assert_false(bb_decoder_known(NULL));
	assert_false(bb_decoder_known("UINT"));
}

static void test_prepare_errors(void **state)
{
	struct bb_static_entry dup[] = { { (char *)"1", (char *)"a" },
					 { (char *)"2", (char *)"b" },
					 { (char *)"1", (char *)"c" } };
	char *bad_re[] = { (char *)"^ok$", (char *)"a(b" };
	char *no_re[] = { NULL };
	const struct {
		struct bb_decoder_conf dec;
		const char *expect; /* NULL: must succeed */
	} cases[] = {
		{ { .name = (char *)"static_map" }, "static_map: expected a non-empty mapping" },
		{ { .name = (char *)"static_map", .static_map = dup, .n_static_map = 3 },
		  "static_map: duplicate key \"1\"" },
		{ { .name = (char *)"static_map",
		    .static_map = dup,
		    .n_static_map = 2,
		    .allow_unknown = true },
		  NULL },
		{ { .name = (char *)"regexp" },
		  "regexps: expected a non-empty list of regular expressions" },
		{ { .name = (char *)"regexp", .regexps = bad_re, .n_regexps = 2 },
		  "regexps[1]: invalid regular expression: " },
		{ { .name = (char *)"regexp", .regexps = no_re, .n_regexps = 1 },
		  "regexps[0]: expected a regular expression" },
		{ { .name = (char *)"regexp", .regexps = bad_re, .n_regexps = 1 }, NULL },
		{ { .name = (char *)"uint", .allow_unknown = true },
		  "allow_unknown: only valid with static_map" },
		{ { .name = (char *)"regexp",
		    .regexps = bad_re,
		    .n_regexps = 1,
		    .allow_unknown = true },
		  "allow_unknown: only valid with static_map" },
		{ { .name = (char *)"hex", .static_map = dup, .n_static_map = 1 },
		  "static_map: only valid with the static_map decoder" },
		{ { .name = (char *)"string", .regexps = bad_re, .n_regexps = 1 },
		  "regexps: only valid with the regexp decoder" },
		{ { .name = (char *)"kubecontext" }, "name: expected one of uint, string" },
		{ { .name = NULL }, "name: expected one of" },
		{ { .name = (char *)"uint" }, NULL },
		{ { .name = (char *)"pci_subclass" }, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bb_decoder_conf dec = cases[i].dec;
		char err[BB_ERRMSG_MAX] = "";
		int rc = bb_decoder_prepare(&dec, err, sizeof(err));

		if (!cases[i].expect) {
			if (rc != 0)
				fail_msg("case %zu: unexpected error \"%s\"", i, err);
		} else {
			assert_int_equal(rc, -EINVAL);
			if (!strstr(err, cases[i].expect))
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].expect);
			assert_null(dec.priv);
		}
		/* Preparing twice must not leak the first compiled state. */
		if (rc == 0)
			assert_int_equal(bb_decoder_prepare(&dec, err, sizeof(err)), 0);
		bb_decoder_release(&dec);
		assert_null(dec.priv);
		bb_decoder_release(&dec);
	}
}

static void test_basic_decoders(void **state)
{
	static const struct decode_case cases[] = {
		/* uint */
		{ "uint", RAW("\x2a"), BB_DECODE_OK, "42" },
		{ "uint", RAW("\x34\x12"), BB_DECODE_OK, "4660" },
		{ "uint", RAW("\xff\xff\xff\xff"), BB_DECODE_OK, "4294967295" },
		{ "uint", RAW("\xff\xff\xff\xff\xff\xff\xff\xff"), BB_DECODE_OK,
		  "18446744073709551615" },
		{ "uint", RAW("\x01\x02\x03"), BB_DECODE_ERROR,
		  "uint: size 3 not one of 1, 2, 4, 8" },
		{ "uint", "", 0, BB_DECODE_ERROR, "uint: size 0 not one of 1, 2, 4, 8" },
		{ "uint", RAW("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"),
		  BB_DECODE_ERROR, "uint: size 16" },
		{ "uint,uint", RAW("\x07\x00"), BB_DECODE_OK, "7" },
		{ "string,uint", RAW("12x\0"), BB_DECODE_ERROR,
		  "uint: expected a decimal number from the previous decoder, got \"12x\"" },
		{ "string,uint", RAW("\0\0\0\0"), BB_DECODE_ERROR, "got \"\"" },
		{ "string,uint", RAW("99999999999999999999\0"), BB_DECODE_ERROR, "uint: expected" },
		/* string */
		{ "string", RAW("bash\0\0\0\0junk\0\0\0\0\0\0\0\0"), BB_DECODE_OK, "bash" },
		{ "string", RAW("full"), BB_DECODE_OK, "full" },
		{ "string", RAW("\0abc"), BB_DECODE_OK, "" },
		{ "string",
		  RAW("a\x01"
		      "b\x7f\x1b[0m\0"),
		  BB_DECODE_OK, "a\\x01b\\x7f\\x1b[0m" },
		{ "string", RAW("C:\\dir\0"), BB_DECODE_OK, "C:\\dir" }, /* not an escape */
		{ "string", RAW("caf\xc3\xa9 \xe2\x82\xac\0"), BB_DECODE_OK,
		  "caf\xc3\xa9 \xe2\x82\xac" },
		{ "string", RAW("bad\xff\xc3\0"), BB_DECODE_OK, "bad\\xff\\xc3" },
		{ "string", RAW("\xc0\xaf\xed\xa0\x80\0"), BB_DECODE_OK,
		  "\\xc0\\xaf\\xed\\xa0\\x80" }, /* overlong and surrogate */
		{ "string", RAW("cut\xe2\x82"), BB_DECODE_OK, "cut\\xe2\\x82" },
		{ "string,string", RAW("a\\b\x01\0"), BB_DECODE_OK, "a\\b\\x01" },
		/* hex */
		{ "hex", RAW("\x00\x01\xab\xff"), BB_DECODE_OK, "0001abff" },
		{ "hex", "", 0, BB_DECODE_OK, "" },
		{ "string,hex", RAW("ab\0"), BB_DECODE_OK, "6162" },
		/* static_map */
		{ "uint,static_map", RAW("\x01\x00\x00\x00"), BB_DECODE_OK, "read" },
		{ "uint,static_map", RAW("\x02\x00\x00\x00"), BB_DECODE_OK, "write" },
		{ "uint,static_map", RAW("\x07\x00\x00\x00"), BB_DECODE_ERROR,
		  "static_map: no entry for \"7\"" },
		{ "uint,static_map+", RAW("\x07\x00\x00\x00"), BB_DECODE_OK, "7" },
		{ "string,hex,static_map", RAW("ab\0\0"), BB_DECODE_OK, "hex-ab" },
		{ "static_map", RAW("sda\0\0\0"), BB_DECODE_OK, "system disk" },
		{ "static_map+", RAW("\x01\0"), BB_DECODE_OK, "\\x01" },
		{ "static_map", RAW("\x01\0"), BB_DECODE_ERROR, "no entry for \"\\x01\"" },
		/* regexp: unanchored POSIX ERE, no match drops the series */
		{ "string,regexp", RAW("sdb\0"), BB_DECODE_OK, "sdb" },
		{ "string,regexp", RAW("nvme0n1\0"), BB_DECODE_OK, "nvme0n1" },
		{ "string,regexp", RAW("sdb1\0"), BB_DECODE_DROP, "" },
		{ "string,regexp", RAW("loop0\0"), BB_DECODE_DROP, "" },
		{ "regexp", RAW("sdc\0junk"), BB_DECODE_OK, "sdc" },
		{ "string,regexp,static_map", RAW("sda\0"), BB_DECODE_OK, "system disk" },
		{ "uint,static_map,regexp", RAW("\x01"), BB_DECODE_DROP, "" },
		/* syscall */
		{ "syscall", RAW(NR_IOPRIO_GET), BB_DECODE_OK, "ioprio_get" },
		{ "uint,syscall", RAW(NR_IOPRIO_GET), BB_DECODE_OK, "ioprio_get" },
		{ "syscall", RAW("\x0f\x27\x00\x00"), BB_DECODE_OK, "unknown_syscall:9999" },
		{ "syscall", RAW("\xff\xff\xff\xff\xff\xff\xff\xff"), BB_DECODE_OK,
		  "unknown_syscall:18446744073709551615" },
		{ "syscall", RAW("\x01\x02\x03"), BB_DECODE_ERROR, "syscall: size 3" },
		{ "string,syscall", RAW("read\0"), BB_DECODE_ERROR,
		  "syscall: expected a decimal number" },
		/* errno */
		{ "errno", RAW("\x16\x00\x00\x00"), BB_DECODE_OK, "EINVAL" },
		{ "uint,errno", RAW("\x05\x00\x00\x00\x00\x00\x00\x00"), BB_DECODE_OK, "EIO" },
		{ "errno", RAW("\xea\xff\xff\xff"), BB_DECODE_OK, "EINVAL" }, /* -22, s32 */
		{ "errno", RAW("\xfe\xff\xff\xff\xff\xff\xff\xff"), BB_DECODE_OK, "ENOENT" },
		{ "errno", RAW("\xf3"), BB_DECODE_OK, "EACCES" }, /* -13, s8 */
		{ "uint,errno", RAW("\xea\xff\xff\xff"), BB_DECODE_OK, "EINVAL" },
		{ "uint,errno", RAW("\xea\xff\xff\xff\xff\xff\xff\xff"), BB_DECODE_OK, "EINVAL" },
		{ "errno", RAW("\x00\x00"), BB_DECODE_OK, "0" },
		{ "errno", RAW("\x0f\x27\x00\x00"), BB_DECODE_OK, "unknown:9999" },
		{ "errno", RAW("\x00\x00\x00\x80\x00\x00\x00\x00"), BB_DECODE_OK,
		  "unknown:2147483648" },
		{ "errno", RAW("\x16\x00\x00"), BB_DECODE_ERROR, "errno: size 3" },
		/* inet_ip */
		{ "inet_ip", RAW("\x7f\x00\x00\x01"), BB_DECODE_OK, "127.0.0.1" },
		{ "inet_ip",
		  RAW("\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"),
		  BB_DECODE_OK, "2001:db8::1" },
		{ "inet_ip",
		  RAW("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x0a\x00\x00\x01"),
		  BB_DECODE_OK, "::ffff:10.0.0.1" },
		{ "inet_ip", RAW("\x7f\x00\x00\x01\x00"), BB_DECODE_ERROR,
		  "inet_ip: size 5 is neither 4 (IPv4) nor 16 (IPv6)" },
		{ "hex,inet_ip", RAW("\x7f\x00\x00\x01"), BB_DECODE_ERROR,
		  "inet_ip: must be the first decoder" },
		/* ifname: the loopback device is always ifindex 1 in a network namespace */
		{ "ifname", RAW("\x01\x00\x00\x00"), BB_DECODE_OK, "lo" },
		{ "uint,ifname", RAW("\x01\x00\x00\x00"), BB_DECODE_OK, "lo" },
		{ "ifname", RAW("\x3f\x42\x0f\x00"), BB_DECODE_OK, "ifindex999999" },
		{ "ifname", RAW("\x00\x00\x00\x00"), BB_DECODE_OK, "ifindex0" },
		{ "ifname", RAW("\x01\x00\x00\x00\x01\x00\x00\x00"), BB_DECODE_OK,
		  "ifindex4294967297" },
		{ "ifname", RAW("\x01\x00\x00"), BB_DECODE_ERROR, "ifname: size 3" },
		/* dname */
		{ "dname",
		  RAW("\x03www\x07"
		      "example\x03"
		      "com\x00\x00\x00"),
		  BB_DECODE_OK, "www.example.com" },
		{ "dname", RAW("\x00\x00\x00\x00"), BB_DECODE_OK, "." },
		{ "dname",
		  RAW("\x01"
		      "a\x00"),
		  BB_DECODE_OK, "a" },
		{ "dname",
		  RAW("\x03"
		      "a.b\x04"
		      "c\\ \x01\x00"),
		  BB_DECODE_OK, "a\\.b.c\\\\\\032\\001" },
		{ "dname",
		  RAW("\x03www\x07"
		      "exa"),
		  BB_DECODE_ERROR,
		  "dname: label of length 7 at offset 4 runs past the end (8 bytes)" },
		{ "dname", RAW("\x03www"), BB_DECODE_ERROR,
		  "dname: no terminating zero-length label within 4 bytes" },
		{ "dname", "", 0, BB_DECODE_ERROR,
		  "no terminating zero-length label within 0 bytes" },
		{ "dname", RAW("\x03www\xc0\x0c"), BB_DECODE_ERROR,
		  "dname: compression pointer at offset 4 is not supported" },
		{ "dname", RAW("\x40xxx"), BB_DECODE_ERROR,
		  "dname: invalid label length byte 0x40 at offset 0" },
		{ "dname", RAW("\xff\x00"), BB_DECODE_ERROR, "compression pointer at offset 0" },
		{ "string,dname",
		  RAW("\x01"
		      "a\x00"),
		  BB_DECODE_ERROR, "dname: must be the first decoder" },
	};

	(void)state;
	run_cases(NULL, cases, sizeof(cases) / sizeof(cases[0]));
}

/* ebpf_exporter's regexp: the first matching expression's first capture group
 * becomes the value; an expression without groups keeps it unchanged. */
static void test_regexp_capture_groups(void **state)
{
	static char *exprs[] = { (char *)"^(kswapd).*$", (char *)"^(systemd)-(journal)",
				 (char *)"^x(y)?z$", (char *)"^nvme", (char *)"(worker)" };
	static const struct {
		const char *in, *out; /* out NULL: dropped */
	} cases[] = {
		{ "kswapd0", "kswapd" },
		{ "kswapd7", "kswapd" },
		{ "systemd-journald", "systemd" }, /* the first group, not the second */
		{ "xz", "" },			   /* the group took no part */
		{ "xyz", "y" },
		{ "nvme0n1", "nvme0n1" },     /* no group: unchanged */
		{ "kworker/u8:2", "worker" }, /* unanchored, as ebpf_exporter's */
		{ "bash", NULL },
	};
	struct bb_decoder_conf decs[2] = { { .name = (char *)"string" },
					   { .name = (char *)"regexp",
					     .regexps = exprs,
					     .n_regexps = sizeof(exprs) / sizeof(exprs[0]) } };
	struct bb_label_conf label = {
		.name = (char *)"comm", .size = 16, .decoders = decs, .n_decoders = 2
	};
	struct bb_decode_ctx *ctx = bb_decode_ctx_new(NULL);
	char perr[BB_ERRMSG_MAX];

	(void)state;
	assert_non_null(ctx);
	for (size_t i = 0; i < 2; i++)
		if (bb_decoder_prepare(&decs[i], perr, sizeof(perr)))
			fail_msg("prepare: %s", perr);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char raw[16] = { 0 }, out[BB_LABEL_MAX], err[BB_ERRMSG_MAX] = "";
		enum bb_decode_status st;

		strncpy(raw, cases[i].in, sizeof(raw) - 1);
		st = bb_decode_label(ctx, &label, raw, out, sizeof(out), err, sizeof(err));
		if (!cases[i].out) {
			assert_int_equal(st, BB_DECODE_DROP);
			continue;
		}
		if (st != BB_DECODE_OK)
			fail_msg("%s: status %d (%s)", cases[i].in, st, err);
		assert_string_equal(out, cases[i].out);
	}
	for (size_t i = 0; i < 2; i++)
		bb_decoder_release(&decs[i]);
	bb_decode_ctx_free(ctx);
}

static void test_dname_too_long(void **state)
{
	uint8_t wire[300];
	char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
	size_t pos = 0, i;

	(void)state;
	/* labels of 63, 63, 63 and 62 bytes = 256 wire bytes with the root label:
	 * one more than RFC 1035 allows */
	for (i = 0; i < 4; i++) {
		uint8_t len = i < 3 ? 63 : 62;

		wire[pos++] = len;
		memset(wire + pos, 'a' + (int)i, len);
		pos += len;
	}
	wire[pos++] = 0;
	assert_int_equal(decode_chain(NULL, "dname", false, wire, (uint32_t)pos, out, sizeof(out),
				      err, sizeof(err)),
			 BB_DECODE_ERROR);
	assert_string_equal(err, "dname: name longer than 255 bytes");

	/* 3 labels of 63 + one of 61: 254 + root = 255, the maximum. Its text is
	 * 253 characters, which still fits. */
	pos = 0;
	for (i = 0; i < 4; i++) {
		uint8_t len = i < 3 ? 63 : 61;

		wire[pos++] = len;
		memset(wire + pos, 'a' + (int)i, len);
		pos += len;
	}
	wire[pos++] = 0;
	assert_int_equal(decode_chain(NULL, "dname", false, wire, (uint32_t)pos, out, sizeof(out),
				      err, sizeof(err)),
			 BB_DECODE_OK);
	assert_int_equal(strlen(out), 63 * 3 + 61 + 3);
	assert_int_equal(out[63], '.');
	assert_int_equal(out[strlen(out) - 1], 'd');

	/* Escapes make the text longer than BB_LABEL_MAX: cut at a whole escape. */
	pos = 0;
	for (i = 0; i < 3; i++) {
		wire[pos++] = 63;
		memset(wire + pos, 0x01, 63);
		pos += 63;
	}
	wire[pos++] = 0;
	assert_int_equal(decode_chain(NULL, "dname", false, wire, (uint32_t)pos, out, sizeof(out),
				      err, sizeof(err)),
			 BB_DECODE_OK);
	/* too long: a prefix plus "~" and a hash of the whole text */
	assert_int_equal(strlen(out), BB_LABEL_MAX - 1);
	assert_int_equal(out[BB_LABEL_MAX - 1 - 17], '~');
	assert_memory_equal(out, "\\001\\001", 8);
}

static void test_syscall_table(void **state)
{
	(void)state;
	assert_string_equal(bb_syscall_name(252, "x86_64"), "ioprio_get");
	assert_string_equal(bb_syscall_name(0, "x86_64"), "read");
	assert_string_equal(bb_syscall_name(262, "x86_64"), "newfstatat");
	assert_string_equal(bb_syscall_name(469, "x86_64"), "file_setattr");
	assert_null(bb_syscall_name(400, "x86_64")); /* unassigned gap */
	assert_null(bb_syscall_name(100000, "x86_64"));
	assert_string_equal(bb_syscall_name(31, "aarch64"), "ioprio_get");
	assert_string_equal(bb_syscall_name(31, "arm64"), "ioprio_get");
	assert_string_equal(bb_syscall_name(63, "aarch64"), "read");
	assert_string_equal(bb_syscall_name(79, "aarch64"), "newfstatat");
	assert_string_equal(bb_syscall_name(222, "aarch64"), "mmap");
	assert_string_equal(bb_syscall_name(435, "aarch64"), "clone3");
	assert_null(bb_syscall_name(244, "aarch64")); /* arch-specific range, unused */
	assert_null(bb_syscall_name(0, "mips"));
	assert_non_null(bb_syscall_default_arch());
	assert_string_equal(bb_syscall_name(0, NULL),
			    bb_syscall_name(0, bb_syscall_default_arch()));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static struct bb_decode_ctx *fixture_ctx(const char *kallsyms, const char *partitions,
					 const char *cgroup_root, const char *pci_ids)
{
	struct bb_decode_paths paths = { kallsyms, partitions, cgroup_root, pci_ids };
	struct bb_decode_ctx *ctx = bb_decode_ctx_new(&paths);

	assert_non_null(ctx);
	return ctx;
}

static void test_ksym(void **state)
{
	static const struct decode_case cases[] = {
		{ "ksym", RAW("\x00\x00\x00\x81\xff\xff\xff\xff"), BB_DECODE_OK, "_stext" },
		{ "ksym", RAW("\x50\x00\x00\x81\xff\xff\xff\xff"), BB_DECODE_OK, "_stext" },
		{ "ksym", RAW("\x00\x01\x00\x81\xff\xff\xff\xff"), BB_DECODE_OK,
		  "do_one_initcall" },
		{ "ksym", RAW("\xff\x01\x00\x81\xff\xff\xff\xff"), BB_DECODE_OK,
		  "do_one_initcall" },
		{ "ksym", RAW("\x00\x02\x00\x81\xff\xff\xff\xff"), BB_DECODE_OK, "helper_local" },
		{ "ksym", RAW("\x10\x10\x00\x81\xff\xff\xff\xff"), BB_DECODE_OK, "vfs_read" },
		{ "ksym", RAW("\x00\x30\x00\x81\xff\xff\xff\xff"), BB_DECODE_OK, "weak_thing" },
		{ "ksym", RAW("\x08\x10\x00\xc0\xff\xff\xff\xff"), BB_DECODE_OK, "mod_func" },
		{ "ksym", RAW("\xff\xff\xff\xff\xff\xff\xff\xff"), BB_DECODE_OK, "mod_func" },
		/* below the first symbol; absolute symbols (A) do not count */
		{ "ksym", RAW("\xff\xff\xff\x80\xff\xff\xff\xff"), BB_DECODE_OK,
		  "0xffffffff80ffffff" },
		{ "ksym", RAW("\x00\x15\x00\x00\x00\x00\x00\x00"), BB_DECODE_OK, "0x1500" },
		{ "ksym", RAW("\x00\x00\x00\x00\x00\x00\x00\x00"), BB_DECODE_OK, "0x0" },
		{ "uint,ksym", RAW("\x00\x10\x00\x81\xff\xff\xff\xff"), BB_DECODE_OK, "vfs_read" },
		{ "ksym", RAW("\x00\x10\x00\x81\xff\xff"), BB_DECODE_ERROR, "ksym: size 6" },
		/* kstack: zero-terminated array of addresses */
		{ "kstack",
		  RAW("\x00\x10\x00\x81\xff\xff\xff\xff"
		      "\x04\x01\x00\x81\xff\xff\xff\xff"
		      "\x00\x00\x00\x80\xff\xff\xff\xff"
		      "\x00\x00\x00\x00\x00\x00\x00\x00"
		      "\x00\x30\x00\x81\xff\xff\xff\xff"),
		  BB_DECODE_OK, "vfs_read\ndo_one_initcall\n0xffffffff80000000" },
		{ "kstack", RAW("\x00\x10\x00\x81\xff\xff\xff\xff"), BB_DECODE_OK, "vfs_read" },
		{ "kstack", RAW("\x00\x00\x00\x00\x00\x00\x00\x00"), BB_DECODE_OK, "" },
		{ "kstack", RAW("\x00\x10\x00\x81\xff\xff\xff\xff\x00"), BB_DECODE_ERROR,
		  "kstack: size 9 is not a multiple of 8" },
		{ "kstack", "", 0, BB_DECODE_ERROR, "kstack: size 0 is not a multiple of 8" },
		{ "uint,kstack", RAW("\x00\x10\x00\x81\xff\xff\xff\xff"), BB_DECODE_ERROR,
		  "kstack: must be the first decoder" },
	};
	struct bb_decode_ctx *ctx = fixture_ctx(DATA "kallsyms", NULL, NULL, NULL);

	(void)state;
	run_cases(ctx, cases, sizeof(cases) / sizeof(cases[0]));
	bb_decode_ctx_free(ctx);
}

static void test_kstack_truncation(void **state)
{
	struct bb_decode_ctx *ctx = fixture_ctx(DATA "kallsyms", NULL, NULL, NULL);
	uint64_t stack[64];
	char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
	size_t i, len;

	(void)state;
	for (i = 0; i < 64; i++)
		stack[i] = 0xffffffff81000100ULL; /* do_one_initcall, 15 characters */
	assert_int_equal(decode_chain(ctx, "kstack", false, stack, sizeof(stack), out, sizeof(out),
				      err, sizeof(err)),
			 BB_DECODE_OK);
	len = strlen(out);
	assert_true(len <= BB_LABEL_MAX - 1);
	/* 64 frames do not fit: a prefix, "~" and a hash of the whole stack */
	assert_int_equal(len, BB_LABEL_MAX - 1);
	assert_int_equal(out[BB_LABEL_MAX - 1 - 17], '~');
	assert_memory_equal(out, "do_one_initcall\ndo_one_initcall\n", 32);
	bb_decode_ctx_free(ctx);
}

static void test_ksym_unavailable(void **state)
{
	struct bb_decode_ctx *ctx;
	char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
	const uint64_t addr = 0xffffffff81000000ULL;
	char dir[] = "/tmp/bb-test-kallsyms-XXXXXX", path[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/kallsyms", dir);
	ctx = fixture_ctx(path, NULL, NULL, NULL);
	assert_int_equal(decode_chain(ctx, "ksym", false, &addr, 8, out, sizeof(out), err,
				      sizeof(err)),
			 BB_DECODE_ERROR);
	assert_non_null(strstr(err, "ksym: cannot open "));
	assert_non_null(strstr(err, "/kallsyms: No such file or directory"));
	/* The failure is remembered for the refresh interval, not retried on every
	 * label; after it, the file is tried again. */
	write_file(path, "ffffffff81000000 T _stext\n");
	assert_int_equal(decode_chain(ctx, "kstack", false, &addr, 8, out, sizeof(out), err,
				      sizeof(err)),
			 BB_DECODE_ERROR);
	assert_non_null(strstr(err, "ksym: cannot open "));
	bb_decode_ctx_set_refresh_ms(ctx, 0);
	assert_int_equal(decode_chain(ctx, "ksym", false, &addr, 8, out, sizeof(out), err,
				      sizeof(err)),
			 BB_DECODE_OK);
	assert_string_equal(out, "_stext");
	bb_decode_ctx_free(ctx);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);

	ctx = fixture_ctx(DATA "kallsyms-zero", NULL, NULL, NULL);
	assert_int_equal(decode_chain(ctx, "ksym", false, &addr, 8, out, sizeof(out), err,
				      sizeof(err)),
			 BB_DECODE_ERROR);
	assert_non_null(strstr(err, "shows only zero addresses (hidden by kernel.kptr_restrict"));
	bb_decode_ctx_free(ctx);

	assert_int_equal(decode_chain(NULL, "ksym", false, &addr, 8, out, sizeof(out), err,
				      sizeof(err)),
			 BB_DECODE_ERROR);
	assert_string_equal(err, "ksym: no decode context");
}

/* Userspace dev_t encoding (new_encode_dev), what ebpf_exporter's majorminor decodes. */
#define KDEV(ma, mi) \
	((uint32_t)((mi)&0xff) | ((uint32_t)(ma) << 8) | (((uint32_t)(mi) & ~0xffu) << 12))

static const char *majorminor(struct bb_decode_ctx *ctx, uint32_t dev, char *out)
{
	char err[BB_ERRMSG_MAX];

	if (decode_chain(ctx, "majorminor", false, &dev, 4, out, BB_LABEL_MAX, err, sizeof(err)) !=
	    BB_DECODE_OK)
		fail_msg("majorminor: %s", err);
	return out;
}

static void test_majorminor(void **state)
{
	struct bb_decode_ctx *ctx = fixture_ctx(NULL, DATA "partitions", NULL, NULL);
	char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
	uint64_t big = (uint64_t)1 << 32;
	char text[32] = "";

	(void)state;
	assert_string_equal(majorminor(ctx, KDEV(8, 0), out), "sda");
	assert_string_equal(majorminor(ctx, KDEV(8, 1), out), "sda1");
	assert_string_equal(majorminor(ctx, KDEV(259, 1), out), "nvme0n1p1");
	assert_string_equal(majorminor(ctx, KDEV(253, 0), out), "dm-0");
	assert_string_equal(majorminor(ctx, KDEV(7, 99), out), "7:99");
	/* ebpf_exporter's own case: 0x0810 is 8:16 */
	assert_string_equal(majorminor(ctx, 0x0810, out), "8:16");
	assert_string_equal(majorminor(ctx, KDEV(4095, 0xfffff), out), "4095:1048575");
	snprintf(text, sizeof(text), "%u%c", KDEV(259, 0), '\0');
	assert_int_equal(decode_chain(ctx, "string,majorminor", false, text, sizeof(text), out,
				      sizeof(out), err, sizeof(err)),
			 BB_DECODE_OK);
	assert_string_equal(out, "nvme0n1");
	assert_int_equal(decode_chain(ctx, "majorminor", false, &big, 8, out, sizeof(out), err,
				      sizeof(err)),
			 BB_DECODE_ERROR);
	assert_string_equal(err, "majorminor: 4294967296 is not a 32-bit dev_t");
	assert_int_equal(decode_chain(ctx, "majorminor", false, "\x01\x02\x03", 3, out, sizeof(out),
				      err, sizeof(err)),
			 BB_DECODE_ERROR);
	assert_string_equal(err, "majorminor: size 3 not one of 1, 2, 4, 8");
	bb_decode_ctx_free(ctx);

	/* Missing file: every device falls back to MAJ:MIN, nothing crashes. */
	ctx = fixture_ctx(NULL, DATA "no-such-partitions", NULL, NULL);
	assert_string_equal(majorminor(ctx, KDEV(8, 0), out), "8:0");
	bb_decode_ctx_free(ctx);
}

static void test_majorminor_refresh(void **state)
{
	char dir[] = "/tmp/bb-test-decode-XXXXXX";
	char path[256], out[BB_LABEL_MAX];
	struct bb_decode_ctx *ctx;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/partitions", dir);
	write_file(path, "major minor  #blocks  name\n\n   8        0  100 sda\n");
	ctx = fixture_ctx(NULL, path, NULL, NULL);
	assert_string_equal(majorminor(ctx, KDEV(8, 0), out), "sda");
	assert_string_equal(majorminor(ctx, KDEV(8, 16), out), "8:16");

	/* A disk appears. Within the refresh interval a miss does not reread. */
	write_file(path, "major minor  #blocks  name\n\n   8        0  100 sda\n"
			 "   8       16  100 sdb\n");
	assert_string_equal(majorminor(ctx, KDEV(8, 16), out), "8:16");
	/* Once the interval has passed, the next miss rereads the file. */
	bb_decode_ctx_set_refresh_ms(ctx, 0);
	assert_string_equal(majorminor(ctx, KDEV(8, 16), out), "sdb");
	bb_decode_ctx_free(ctx);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static uint64_t ino_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static const char *cgroup_name(struct bb_decode_ctx *ctx, uint64_t id, char *out)
{
	char err[BB_ERRMSG_MAX];

	if (decode_chain(ctx, "cgroup", false, &id, 8, out, BB_LABEL_MAX, err, sizeof(err)) !=
	    BB_DECODE_OK)
		fail_msg("cgroup: %s", err);
	return out;
}

static void test_cgroup(void **state)
{
	char root[] = "/tmp/bb-test-cgroup-XXXXXX";
	static const char *const dirs[] = { "system.slice", "system.slice/ssh.service",
					    "user.slice", "user.slice/user-1000.slice" };
	char path[512], out[BB_LABEL_MAX], err[BB_ERRMSG_MAX], text[32];
	uint64_t ids[4], late_id, missing;
	struct bb_decode_ctx *ctx;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(root));
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		assert_int_equal(mkdir(path, 0755), 0);
		ids[i] = ino_of(path);
	}
	/* a regular file and a symlink are not cgroups */
	snprintf(path, sizeof(path), "%s/system.slice/cgroup.procs", root);
	write_file(path, "");
	snprintf(path, sizeof(path), "%s/link", root);
	assert_int_equal(symlink("/", path), 0);

	ctx = fixture_ctx(NULL, NULL, root, NULL);
	assert_string_equal(cgroup_name(ctx, ino_of(root), out), "/");
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "/%s", dirs[i]);
		assert_string_equal(cgroup_name(ctx, ids[i], out), path);
	}
	snprintf(path, sizeof(path), "%s/system.slice/cgroup.procs", root);
	missing = ino_of(path);
	snprintf(text, sizeof(text), "unknown_cgroup_id:%" PRIu64, missing);
	assert_string_equal(cgroup_name(ctx, missing, out), text);
	snprintf(text, sizeof(text), "%" PRIu64, ids[1]);
	assert_int_equal(decode_chain(ctx, "string,cgroup", false, text, (uint32_t)strlen(text) + 1,
				      out, sizeof(out), err, sizeof(err)),
			 BB_DECODE_OK);
	assert_string_equal(out, "/system.slice/ssh.service");
	assert_int_equal(decode_chain(ctx, "cgroup", false, "\x01\x02\x03", 3, out, sizeof(out),
				      err, sizeof(err)),
			 BB_DECODE_ERROR);
	assert_string_equal(err, "cgroup: size 3 not one of 1, 2, 4, 8");

	/* A cgroup created later: found once a miss may refresh the cache. */
	snprintf(path, sizeof(path), "%s/user.slice/late.scope", root);
	assert_int_equal(mkdir(path, 0755), 0);
	late_id = ino_of(path);
	snprintf(text, sizeof(text), "unknown_cgroup_id:%" PRIu64, late_id);
	assert_string_equal(cgroup_name(ctx, late_id, out), text);
	bb_decode_ctx_set_refresh_ms(ctx, 0);
	assert_string_equal(cgroup_name(ctx, late_id, out), "/user.slice/late.scope");
	bb_decode_ctx_free(ctx);

	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/link", root);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/system.slice/cgroup.procs", root);
	assert_int_equal(unlink(path), 0);
	for (i = 4; i-- > 0;) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		assert_int_equal(rmdir(path), 0);
	}
	assert_int_equal(rmdir(root), 0);
}

/* The machine's own cgroup v2 root (also in the hybrid "unified" layout) is "/". */
static void test_cgroup_system(void **state)
{
	struct bb_decode_ctx *ctx = bb_decode_ctx_new(NULL);
	const char *v2 = NULL;
	struct statfs sfs;
	char out[BB_LABEL_MAX];

	(void)state;
	assert_non_null(ctx);
	if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == 0x63677270)
		v2 = "/sys/fs/cgroup";
	else if (statfs("/sys/fs/cgroup/unified", &sfs) == 0 && sfs.f_type == 0x63677270)
		v2 = "/sys/fs/cgroup/unified";
	if (!v2) {
		bb_decode_ctx_free(ctx);
		skip();
	}
	assert_string_equal(cgroup_name(ctx, ino_of(v2), out), "/");
	bb_decode_ctx_free(ctx);
}

static void test_pci(void **state)
{
	static const struct decode_case cases[] = {
		{ "pci_vendor", RAW("\x86\x80"), BB_DECODE_OK, "Intel Corporation" },
		{ "pci_vendor", RAW("\xf4\x1a\x00\x00"), BB_DECODE_OK, "Red Hat, Inc." },
		{ "uint,pci_vendor", RAW("\xde\x10"), BB_DECODE_OK, "NVIDIA Corporation" },
		{ "pci_vendor", RAW("\x34\x12"), BB_DECODE_OK, "unknown pci vendor: 0x1234" },
		{ "pci_vendor", RAW("\x86\x80\x01\x00"), BB_DECODE_OK,
		  "unknown pci vendor: 0x18086" },
		{ "pci_device", RAW("\x00\x10\x86\x80"), BB_DECODE_OK,
		  "82542 Gigabit Ethernet Controller (Fiber)" },
		{ "pci_device", RAW("\x04\x27\xde\x10"), BB_DECODE_OK, "AD103 [GeForce RTX 4080]" },
		{ "pci_device", RAW("\x00\x10\xf4\x1a"), BB_DECODE_OK, "Virtio network device" },
		{ "pci_device", RAW("\xef\xbe\xad\xde"), BB_DECODE_OK,
		  "unknown pci device: 0xdeadbeef" },
		{ "pci_device", RAW("\xdf\xb0\x86\x80"), BB_DECODE_OK,
		  "unknown pci device: 0x8086b0df" }, /* subsystem ids are not devices */
		{ "pci_class", RAW("\x02"), BB_DECODE_OK, "Network controller" },
		{ "pci_class", RAW("\x0c"), BB_DECODE_OK, "Serial bus controller" },
		{ "pci_class", RAW("\x42"), BB_DECODE_OK, "unknown pci class: 0x42" },
		{ "pci_subclass", RAW("\x00\x02"), BB_DECODE_OK, "Ethernet controller" },
		{ "pci_subclass", RAW("\x80\x02"), BB_DECODE_OK, "Network controller" },
		{ "pci_subclass", RAW("\x03\x0c"), BB_DECODE_OK, "USB controller" },
		{ "pci_subclass", RAW("\x30\x0c"), BB_DECODE_OK,
		  "unknown pci subclass: 0x30 (class 0x0c)" }, /* a prog-if, not a subclass */
		{ "pci_subclass", RAW("\x00\x42"), BB_DECODE_OK, "unknown pci class: 0x42" },
		{ "pci_class", RAW("\x02\x00\x00"), BB_DECODE_ERROR, "pci_class: size 3" },
	};
	struct bb_decode_ctx *ctx = fixture_ctx(NULL, NULL, NULL, DATA "pci.ids");

	(void)state;
	run_cases(ctx, cases, sizeof(cases) / sizeof(cases[0]));
	bb_decode_ctx_free(ctx);
}

static void test_pci_missing(void **state)
{
	static const char *const names[] = { "pci_vendor", "pci_device", "pci_class",
					     "pci_subclass" };
	struct bb_decode_ctx *ctx = fixture_ctx(NULL, NULL, NULL, DATA "no-such-pci.ids");
	char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX], want[512];
	uint16_t id = 0x8086;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		assert_int_equal(decode_chain(ctx, names[i], false, &id, 2, out, sizeof(out), err,
					      sizeof(err)),
				 BB_DECODE_ERROR);
		snprintf(want, sizeof(want),
			 "%s: no pci.ids database found (looked in %sno-such-pci.ids; "
			 "apt-get install pci.ids)",
			 names[i], DATA);
		assert_string_equal(err, want);
		assert_string_equal(out, "");
	}
	bb_decode_ctx_free(ctx);
}

/* The default search path: the real database if this machine has one. */
static void test_pci_system(void **state)
{
	struct bb_decode_ctx *ctx = bb_decode_ctx_new(NULL);
	char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
	uint16_t intel = 0x8086;
	enum bb_decode_status st;

	(void)state;
	assert_non_null(ctx);
	st = decode_chain(ctx, "pci_vendor", false, &intel, 2, out, sizeof(out), err, sizeof(err));
	if (access("/usr/share/misc/pci.ids", R_OK) == 0 ||
	    access("/usr/share/hwdata/pci.ids", R_OK) == 0) {
		assert_int_equal(st, BB_DECODE_OK);
		assert_string_equal(out, "Intel Corporation");
	} else {
		assert_int_equal(st, BB_DECODE_ERROR);
		assert_string_equal(err, "pci_vendor: no pci.ids database found (looked in "
					 "/usr/share/misc/pci.ids, /usr/share/hwdata/pci.ids; "
					 "apt-get install pci.ids)");
	}
	bb_decode_ctx_free(ctx);
}

static void test_output_bounds(void **state)
{
	char big[600], out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
	uint8_t bytes[200];
	size_t i;

	(void)state;
	/* string of 599 bytes: cut to BB_LABEL_MAX - 1 */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(decode_chain(NULL, "string", false, big, sizeof(big), out, sizeof(out),
				      err, sizeof(err)),
			 BB_DECODE_OK);
	assert_int_equal(strlen(out), BB_LABEL_MAX - 1);

	/* escapes are never cut in half: 0x01 bytes each take 4 characters */
	memset(big, 0x01, sizeof(big));
	assert_int_equal(decode_chain(NULL, "string", false, big, sizeof(big), out, sizeof(out),
				      err, sizeof(err)),
			 BB_DECODE_OK);
	assert_int_equal(strlen(out), 236 + 17);
	assert_int_equal(out[236], '~');
	assert_memory_equal(out + 232, "\\x01", 4);

	/* hex: whole bytes only */
	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)i;
	assert_int_equal(decode_chain(NULL, "hex", false, bytes, sizeof(bytes), out, sizeof(out),
				      err, sizeof(err)),
			 BB_DECODE_OK);
	/* 400 hex digits: a prefix, "~" and a hash */
	assert_int_equal(strlen(out), BB_LABEL_MAX - 1);
	assert_int_equal(out[BB_LABEL_MAX - 1 - 17], '~');
	assert_memory_equal(out, "000102", 6);

	/* a value exactly as long as the caller's buffer: cut by one, no byte past it */
	memset(out, 'S', sizeof(out));
	assert_int_equal(decode_chain(NULL, "string", false, "abcd", 5, out, 4, err, sizeof(err)),
			 BB_DECODE_OK);
	assert_string_equal(out, "abc");
	assert_int_equal(out[4], 'S');
	memset(out, 'S', sizeof(out));
	assert_int_equal(decode_chain(NULL, "string", false, "abc", 4, out, 4, err, sizeof(err)),
			 BB_DECODE_OK);
	assert_string_equal(out, "abc");
	assert_int_equal(out[4], 'S');
	/* a small caller buffer: cut, and never inside a UTF-8 sequence */
	assert_int_equal(decode_chain(NULL, "string", false, "abcdefgh", 9, out, 5, err,
				      sizeof(err)),
			 BB_DECODE_OK);
	assert_string_equal(out, "abcd");
	assert_int_equal(decode_chain(NULL, "string", false, "a\xc3\xa9z", 5, out, 3, err,
				      sizeof(err)),
			 BB_DECODE_OK);
	assert_string_equal(out, "a");
	assert_int_equal(decode_chain(NULL, "uint", false, "\x7b", 1, out, 1, err, sizeof(err)),
			 BB_DECODE_OK);
	assert_string_equal(out, "");
	/* a tiny error buffer is filled, not overrun */
	memset(err, 'Z', sizeof(err));
	assert_int_equal(decode_chain(NULL, "uint", false, "\x7b\x00\x00", 3, out, sizeof(out), err,
				      6),
			 BB_DECODE_ERROR);
	assert_string_equal(err, "uint:");
	assert_int_equal(err[6], 'Z');
}

static void test_bad_labels(void **state)
{
	struct bb_decoder_conf bogus = { .name = (char *)"bogus" };
	struct bb_decoder_conf unprepared = { .name = (char *)"regexp" };
	struct bb_label_conf label = { .name = (char *)"l", .size = 4 };
	char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];

	(void)state;
	assert_int_equal(bb_decode_label(NULL, &label, (const uint8_t *)"abcd", out, sizeof(out),
					 err, sizeof(err)),
			 BB_DECODE_ERROR);
	assert_string_equal(err, "decoders: label l has none");
	label.decoders = &bogus;
	label.n_decoders = 1;
	assert_int_equal(bb_decode_label(NULL, &label, (const uint8_t *)"abcd", out, sizeof(out),
					 err, sizeof(err)),
			 BB_DECODE_ERROR);
	assert_string_equal(err, "bogus: unknown decoder");
	label.decoders = &unprepared;
	assert_int_equal(bb_decode_label(NULL, &label, (const uint8_t *)"abcd", out, sizeof(out),
					 err, sizeof(err)),
			 BB_DECODE_ERROR);
	assert_string_equal(err, "regexp: decoder was not prepared");
	assert_int_equal(bb_decode_label(NULL, &label, NULL, out, sizeof(out), err, sizeof(err)),
			 BB_DECODE_ERROR);
	assert_int_equal(bb_decode_label(NULL, NULL, NULL, out, sizeof(out), NULL, 0),
			 BB_DECODE_ERROR);
}

struct thread_arg {
	struct bb_decode_ctx *ctx;
	int failures;
};

static void *ksym_thread(void *p)
{
	struct thread_arg *a = p;
	uint64_t addr = 0xffffffff81001010ULL;
	char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
	struct bb_decoder_conf dec = { .name = (char *)"ksym" };
	struct bb_label_conf label = {
		.name = (char *)"l", .size = 8, .decoders = &dec, .n_decoders = 1
	};
	int i;

	for (i = 0; i < 200; i++)
		if (bb_decode_label(a->ctx, &label, (const uint8_t *)&addr, out, sizeof(out), err,
				    sizeof(err)) != BB_DECODE_OK ||
		    strcmp(out, "vfs_read") != 0)
			a->failures++;
	return NULL;
}

/* Several threads share one context; the first lookups race on the lazy load. */
static void test_threads(void **state)
{
	struct bb_decode_ctx *ctx = fixture_ctx(DATA "kallsyms", NULL, NULL, NULL);
	struct thread_arg args[4];
	pthread_t th[4];
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		args[i].ctx = ctx;
		args[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, ksym_thread, &args[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	bb_decode_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_prepare_errors),
		cmocka_unit_test(test_basic_decoders),
		cmocka_unit_test(test_regexp_capture_groups),
		cmocka_unit_test(test_dname_too_long),
		cmocka_unit_test(test_syscall_table),
		cmocka_unit_test(test_ksym),
		cmocka_unit_test(test_kstack_truncation),
		cmocka_unit_test(test_ksym_unavailable),
		cmocka_unit_test(test_majorminor),
		cmocka_unit_test(test_majorminor_refresh),
		cmocka_unit_test(test_cgroup),
		cmocka_unit_test(test_cgroup_system),
		cmocka_unit_test(test_pci),
		cmocka_unit_test(test_pci_missing),
		cmocka_unit_test(test_pci_system),
		cmocka_unit_test(test_output_bounds),
		cmocka_unit_test(test_bad_labels),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
