/* SPDX-License-Identifier: MIT */
/*
 * The whole read path (reader + store + snapshot) against a real kernel hash
 * map whose keys churn on every read: 10k reads, a quarter of the keys
 * replaced each time. The store must stay bounded (retirement) and the
 * process' RSS flat after warm-up. Run once natively (RSS) and once under
 * valgrind (leaks, invalid accesses): valgrind-test_churn.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "config.h"
#include "decode.h"
#include "log.h"
#include "reader.h"
#include "snapshot.h"

#define KEYS 200
#define READS 10000

static const char yaml[] = "metrics:\n"
			   "  counters:\n"
			   "    - name: churn_total\n"
			   "      help: churning keys\n"
			   "      labels:\n"
			   "        - name: id\n"
			   "          size: 4\n"
			   "          decoders:\n"
			   "            - name: uint\n";

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_churn(void **state)
{
	const char *require = getenv("BPFBRIDGE_REQUIRE_BPF");
	const char *reads_env = getenv("BB_CHURN_READS");
	long reads = reads_env ? atol(reads_env) : READS, rss_warm = 0, rss_end;
	char err[BB_ERRMSG_MAX] = "";
	struct bb_config *cfg;
	struct bb_decode_ctx *dctx;
	struct bb_reader *rd;
	struct bb_options opts;
	size_t mem_warm = 0;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "bb_churn", 4, 8, KEYS * 2, NULL);
	if (fd < 0) {
		if (require && strcmp(require, "1") == 0)
			fail_msg("bpf_map_create: %s (BPFBRIDGE_REQUIRE_BPF=1)", strerror(errno));
		skip();
	}
	assert_int_equal(
		bb_config_parse("/test/churn.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)), 0);
	dctx = bb_decode_ctx_new(NULL);
	bb_options_init(&opts);
	opts.retire_after_reads = 2;
	rd = bb_reader_new(cfg, &opts, dctx);
	assert_non_null(rd);
	assert_int_equal(bb_reader_bind(rd, 0, fd, err, sizeof(err)), 0);

	for (long r = 0; r < reads; r++) {
		struct bb_snapshot *snap = bb_snapshot_new();
		struct bb_read_result res;
		const struct bb_family *fam;

		/* three quarters stay, one quarter is new on every read */
		for (uint32_t i = 0; i < KEYS; i++) {
			uint32_t key = i < KEYS * 3 / 4 ? i : 1000000 + (uint32_t)r * KEYS + i;
			uint32_t old = i < KEYS * 3 / 4 ? 0
							: 1000000 + (uint32_t)(r - 1) * KEYS + i;
			uint64_t v = (uint64_t)r + 1;

			if (i < KEYS * 3 / 4 && r > 0)
				continue; /* stable keys keep their values */
			if (old && r > 0)
				assert_int_equal(bpf_map_delete_elem(fd, &old), 0);
			assert_int_equal(bpf_map_update_elem(fd, &key, &v, BPF_ANY), 0);
		}
		assert_int_equal(bb_reader_read(rd, snap, &res), 0);
		fam = bb_snapshot_find(snap, "churn_total");
		assert_int_equal(fam->n_series, KEYS);
		bb_snapshot_unref(snap);
		if (r == reads / 10) {
			rss_warm = rss_kib();
			mem_warm = bb_reader_memory(rd);
		}
	}
	rss_end = rss_kib();
	print_message("churn: %ld reads, store %zu -> %zu bytes, RSS %ld -> %ld KiB, %" PRIu64
		      " series retired\n",
		      reads, mem_warm, bb_reader_memory(rd), rss_warm, rss_end,
		      bb_reader_stats(rd, 0)->series_retired);
	assert_true(bb_reader_memory(rd) <= mem_warm);
	/* valgrind's own bookkeeping (and ASan's quarantine, tools/sanitize) grows
	 * RSS: the native run checks it */
#ifndef __SANITIZE_ADDRESS__
	if (!getenv("LD_PRELOAD") || !strstr(getenv("LD_PRELOAD"), "vgpreload"))
		assert_true(rss_end - rss_warm < 1024);
#endif
	assert_true(bb_reader_stats(rd, 0)->series_live <= KEYS + KEYS / 4 * 2);
	bb_reader_free(rd);
	bb_decode_ctx_free(dctx);
	bb_config_free(cfg);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
