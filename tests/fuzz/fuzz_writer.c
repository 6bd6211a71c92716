/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the collectd writer's type_instance and meta_data
 * (issue 17), on the plugin's own code (ebpf.c is included, as test_ebpf.c
 * does, with plugin-collectd/collectd_mock.c for collectd's API).
 * The input is label names and values (and a last le/percentile pair),
 * separated by NUL bytes. Checked:
 *   - the text fits DATA_MAX_NAME_LEN; when it was not cut it parses back,
 *     pair by pair, to exactly the names and values given;
 *   - when cut, it is a prefix of the whole text (never inside a %XX or a
 *     UTF-8 sequence) followed by "~" and 16 hex digits;
 *   - the cached path (ebpf_ident_init + ebpf_pair_set + ebpf_ti_compose)
 *     writes the very same bytes;
 *   - meta_data holds every label; nothing leaks (LeakSanitizer).
 * Built by `make fuzz`; run by tests/fuzz/run-short.
 */
#include "ebpf.c"

#include "collectd_mock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LABELS 8
#define FAIL()                                                                \
	do {                                                                  \
		fprintf(stderr, "fuzz_writer: check at line %d\n", __LINE__); \
		abort();                                                      \
	} while (0)

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Unescape [p, end) into OUT; false on a malformed escape or a raw reserved byte. */
static bool unescape(const char *p, const char *end, char *out)
{
	while (p < end) {
		if (*p == '%') {
			int hi, lo;

			if (end - p < 3 || (hi = unhex(p[1])) < 0 || (lo = unhex(p[2])) < 0)
				return false;
			*out++ = (char)(hi << 4 | lo);
			p += 3;
		} else {
			if (ebpf_ti_reserved((unsigned char)*p))
				return false;
			*out++ = *p++;
		}
	}
	*out = '\0';
	return true;
}

/* TEXT must be exactly the pairs NAMES[i]=VALUES[i]. */
static void check_parses_back(const char *text, char *const *names, const char *const *values,
			      size_t n)
{
	const char *p = text;
	char buf[4096];

	if (n == 0) {
		if (*text)
			FAIL();
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(p, '='), *comma;

		if (!eq)
			FAIL();
		comma = strchr(eq, ',');
		if (!comma)
			comma = p + strlen(p);
		if (!unescape(p, eq, buf) || strcmp(buf, names[i]))
			FAIL();
		if (!unescape(eq + 1, comma, buf) || strcmp(buf, values[i]))
			FAIL();
		if ((i + 1 < n) != (*comma == ','))
			FAIL();
		p = *comma ? comma + 1 : comma;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *names[MAX_LABELS + 1];
	const char *values[MAX_LABELS + 1];
	char full[8192], out[DATA_MAX_NAME_LEN], cached[DATA_MAX_NAME_LEN];
	struct ebpf_ident id;
	struct ebpf_pair pair = { 0 };
	size_t n = 0, fields = 0;
	bool with_pair, cut, cut_cached;
	const char *p;

	if (size < 1 || size > 2048)
		return 0;
	with_pair = data[0] & 1;
	copy = malloc(size); /* data[1..] and a NUL */
	if (!copy)
		FAIL();
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	/* fields: name, value, name, value, ... split at NUL bytes */
	for (p = copy; p < copy + size && fields < 2 * (MAX_LABELS + 1); p += strlen(p) + 1) {
		if (fields % 2 == 0)
			names[fields / 2] = (char *)p;
		else
			values[fields / 2] = p;
		fields++;
	}
	n = fields / 2;
	if (with_pair && n == 0)
		with_pair = false;
	if (with_pair)
		n--; /* the last pair is the le/percentile one */

	/* the reference writer, whole and cut */
	if (ebpf_format_type_instance(full, sizeof(full), names, values, n,
				      with_pair ? names[n] : NULL, with_pair ? values[n] : NULL))
		goto out; /* longer than 8 KiB: only the cut text below matters */
	{
		char *all_names[MAX_LABELS + 1];
		const char *all_values[MAX_LABELS + 1];

		for (size_t i = 0; i < n + with_pair; i++) {
			all_names[i] = names[i];
			all_values[i] = values[i];
		}
		check_parses_back(full, all_names, all_values, n + with_pair);
	}
	cut = ebpf_format_type_instance(out, sizeof(out), names, values, n,
					with_pair ? names[n] : NULL, with_pair ? values[n] : NULL);
	if (strlen(out) >= sizeof(out))
		FAIL();
	if (!cut) {
		if (strcmp(out, full))
			FAIL();
	} else {
		size_t len = strlen(out), keep = len - EBPF_HASH_SUFFIX_LEN;

		if (strlen(full) < sizeof(out) || len < EBPF_HASH_SUFFIX_LEN || out[keep] != '~' ||
		    strspn(out + keep + 1, "0123456789abcdef") != 16 || strncmp(out, full, keep))
			FAIL();
		/* not inside a %XX escape, nor inside a UTF-8 sequence */
		if ((keep >= 1 && out[keep - 1] == '%') || (keep >= 2 && out[keep - 2] == '%') ||
		    (keep > 0 && ((unsigned char)full[keep] & 0xc0) == 0x80)) {
			fprintf(stderr, "keep %zu len %zu out %s\nfull %.140s\n", keep, len, out,
				full);
			FAIL();
		}
	}

	/* the cached path writes the same bytes */
	{
		struct bb_family fam = { .label_names = names, .n_labels = n };
		struct bb_series s = { .label_values = (const char **)values };

		if (ebpf_ident_init(&id, &fam, &s, true) != 0)
			FAIL();
		if (with_pair && ebpf_pair_set(&pair, names[n], values[n]) != 0)
			FAIL();
		cut_cached = ebpf_ti_compose(cached, sizeof(cached), &id, with_pair ? &pair : NULL);
		if (cut_cached != cut || strcmp(cached, out))
			FAIL();
		if (!id.meta)
			FAIL();
		ebpf_ident_clear(&id);
		free(pair.text);
	}
out:
	free(copy);
	return 0;
}
