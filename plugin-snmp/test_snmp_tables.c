/* SPDX-License-Identifier: MIT */
/*
 * BPFBRIDGE-MIB's tables, in process: a real net-snmp agent (init_agent as a
 * master with no listening transport) answers GET, GETNEXT, GETBULK and SET
 * PDUs sent over its internal callback transport, so every request goes
 * through the same handler chain as in snmpd (table, cache, table_container,
 * our handlers). The rows come from hand-built snapshots: no BPF needed.
 * snmpd itself is exercised by tests/integration/test_snmp.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bbsnmp.h"
#include "hist.h"

extern int callback_master_num; /* net-snmp's agent; declared in no header */

static const oid root[] = { BBSNMP_DEFAULT_ROOT };
#define ROOT_LEN (sizeof(root) / sizeof(root[0]))

static netsnmp_session *client;

/* What the tables' load callback serves. */
static struct bb_snapshot *cur_snap;
static const struct bbsnmp_program *cur_programs;
static size_t cur_n_programs;
static int n_loads;

static int test_load(struct bbsnmp_tables *tables, void *ctx)
{
	n_loads++;
	return bbsnmp_tables_update(tables, cur_snap, cur_programs, cur_n_programs);
}

/* ---- snapshots --------------------------------------------------------------------- */

static const char *const name_syscall[] = { "syscall" };
static const char *const name_syscall_errno[] = { "syscall", "errno" };
static const char *const name_dev_op[] = { "device", "operation" };
static const char *const name_config[] = { "config" };

/*
 * Series ids as the series store gives them: one per (metric, label set) for
 * as long as the store keeps the series, never given out again once it is
 * forgotten (test_forget_id: the store retired it).
 */
static struct test_id {
	char key[256];
	uint64_t id;
} test_ids[64];
static size_t n_test_ids;
static uint64_t last_test_id;

static void id_key(char *key, size_t len, const struct bb_family *fam, const char *const *values)
{
	snprintf(key, len, "%s", fam->name);
	for (size_t l = 0; l < fam->n_labels; l++)
		snprintf(key + strlen(key), len - strlen(key), "|%s", values[l]);
}

static uint64_t test_id(const struct bb_family *fam, const char *const *values)
{
	char key[256];

	id_key(key, sizeof(key), fam, values);
	for (size_t i = 0; i < n_test_ids; i++)
		if (strcmp(test_ids[i].key, key) == 0)
			return test_ids[i].id;
	assert_true(n_test_ids < sizeof(test_ids) / sizeof(test_ids[0]));
	snprintf(test_ids[n_test_ids].key, sizeof(test_ids[n_test_ids].key), "%s", key);
	test_ids[n_test_ids].id = ++last_test_id;
	return test_ids[n_test_ids++].id;
}

static void test_forget_id(const char *metric, const char *value)
{
	char key[256];

	snprintf(key, sizeof(key), "%s|%s", metric, value);
	for (size_t i = 0; i < n_test_ids; i++)
		if (strcmp(test_ids[i].key, key) == 0)
			test_ids[i] = test_ids[--n_test_ids];
}

static void add_counter(struct bb_family *fam, const char *const *values, uint64_t v)
{
	struct bb_series *s = bb_family_add_series(fam, values);

	assert_non_null(s);
	s->id = test_id(fam, values);
	s->value = v;
}

static void add_hist(struct bb_family *fam, const char *const *values, const uint64_t *cum,
		     uint64_t count, uint64_t sum_raw)
{
	struct bb_series *s = bb_family_add_series(fam, values);

	assert_non_null(s);
	s->id = test_id(fam, values);
	for (size_t i = 0; i < fam->n_buckets; i++)
		s->buckets[i] = cum[i];
	s->count = count;
	s->sum_raw = sum_raw;
	s->sum = sum_raw * fam->multiplier;
}

/*
 * syscalls_total{syscall}: read 100, write 50, ioprio_get 7, and a value that
 * needs escaping; syscall_errors_total{syscall,errno}; a histogram with four
 * finite buckets and two series; a gauge; a counter without labels.
 */
static struct bb_snapshot *snapshot_a(void)
{
	static const double le[] = { 1e-06, 2e-06, 4e-06, 8e-06 };
	static const int64_t le_raw[] = { 1, 2, 4, 8 };
	static const uint64_t read_cum[] = { 1, 3, 3, 6 };
	static const uint64_t write_cum[] = { 0, 0, 2, 2 };
	struct bb_snapshot *snap = bb_snapshot_new();
	struct bb_family *fam;

	assert_non_null(snap);
	fam = bb_snapshot_family(snap, "syscalls_total", "Syscalls by name.", BB_METRIC_COUNTER,
				 name_syscall, 1);
	assert_non_null(fam);
	add_counter(fam, (const char *const[]){ "read" }, 100);
	add_counter(fam, (const char *const[]){ "write" }, 50);
	add_counter(fam, (const char *const[]){ "ioprio_get" }, 7);
	add_counter(fam, (const char *const[]){ "we\"ird\\x\ny" }, 1);

	fam = bb_snapshot_family(snap, "syscall_errors_total", "Failed syscalls.",
				 BB_METRIC_COUNTER, name_syscall_errno, 2);
	assert_non_null(fam);
	add_counter(fam, (const char *const[]){ "ioprio_get", "EINVAL" }, 7);

	fam = bb_snapshot_family(snap, "bio_latency_seconds", "Block I/O latency.",
				 BB_METRIC_HISTOGRAM, name_dev_op, 2);
	assert_non_null(fam);
	assert_int_equal(bb_family_set_buckets(fam, le, le_raw, 4, 1e-06), 0);
	add_hist(fam, (const char *const[]){ "sda", "read" }, read_cum, 9, 40);
	add_hist(fam, (const char *const[]){ "sda", "write" }, write_cum, 5, 77);

	fam = bb_snapshot_family(snap, "bpfbridge_read_duration_seconds", "Last read.",
				 BB_METRIC_GAUGE, name_config, 1);
	assert_non_null(fam);
	fam->multiplier = 1e-6; /* kept in microseconds, as the engine does */
	add_counter(fam, (const char *const[]){ "syscalls" }, 5000000000ULL); /* > 2^32 */

	fam = bb_snapshot_family(snap, "events_total", "No labels.", BB_METRIC_COUNTER, NULL, 0);
	assert_non_null(fam);
	add_counter(fam, NULL, 3);
	bb_snapshot_finish(snap);
	return snap;
}

static const struct bbsnmp_program programs_a[] = {
	{ "biolatency", "tp_btf_block_rq_issue", "tp_btf/block_rq_issue", "block_rq_issue", 0,
	  BBSNMP_PROG_ATTACHED, 0, NULL },
	{ "biolatency", "kprobe_blk_mq_start_request", "kprobe/blk_mq_start_request",
	  "block_rq_issue", 2, BBSNMP_PROG_SKIPPED, -ENOENT, "an earlier alternative was chosen" },
	{ "broken", "", "", "", -1, BBSNMP_PROG_CONFIG_FAILED, EINVAL,
	  "broken.yaml:3:5: metrics: expected a mapping, got a sequence" },
};

/* ---- agent plumbing -------------------------------------------------------------------- */

static int group_setup(void **state)
{
	const char *mib_dir = getenv("BB_MIB_DIR");
	char dirs[4096];

	/* The MIB is loaded so that tests can check it against the code. */
	if (mib_dir) {
		snprintf(dirs, sizeof(dirs), "%s/mibs:%s:/usr/share/snmp/mibs", mib_dir, mib_dir);
		setenv("MIBDIRS", dirs, 1);
		setenv("MIBS", "BPFBRIDGE-MIB", 1);
	} else {
		setenv("MIBS", "", 1);
	}
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 0);
	snmp_enable_stderrlog();
	if (getenv("BB_SNMP_DEBUG")) { /* e.g. BB_SNMP_DEBUG=bpfbridge,helper:table */
		debug_register_tokens(getenv("BB_SNMP_DEBUG"));
		snmp_set_do_debugging(1);
	}
	init_agent("bbsnmptest");
	init_snmp("bbsnmptest");
	bbsnmp_log_to_netsnmp();

	client = netsnmp_callback_open(callback_master_num, NULL, NULL, NULL);
	assert_non_null(client);
	client->version = SNMP_VERSION_2c;
	client->securityModel = SNMP_SEC_MODEL_SNMPv2c;
	client->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
	free(client->community);
	client->community = (u_char *)strdup("public");
	client->community_len = strlen("public");
	client->myvoid = netsnmp_check_outstanding_agent_requests;
	client->flags |= SNMP_FLAGS_RESP_CALLBACK | SNMP_FLAGS_DONT_PROBE;
	return 0;
}

static int group_teardown(void **state)
{
	snmp_close(client);
	bbsnmp_log_restore();
	snmp_shutdown("bbsnmptest");
	return 0;
}

/* Each test gets fresh tables, registered with a cache that reloads per PDU. */
static int setup(void **state)
{
	struct bbsnmp_tables *t = bbsnmp_tables_new();

	assert_non_null(t);
	cur_snap = snapshot_a();
	cur_programs = programs_a;
	cur_n_programs = 3;
	n_loads = 0;
	assert_int_equal(bbsnmp_tables_register(t, root, ROOT_LEN, 0, test_load, NULL), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	bbsnmp_tables_free(*state);
	bb_snapshot_unref(cur_snap);
	cur_snap = NULL;
	return 0;
}

static netsnmp_pdu *send_pdu(int type, const oid *name, size_t len, long reps)
{
	netsnmp_pdu *pdu = snmp_pdu_create(type), *resp = NULL;

	assert_non_null(pdu);
	/* The callback transport has no community -> security name mapping;
	 * access control is snmpd's business, tested by the integration tests. */
	pdu->flags |= UCD_MSG_FLAG_ALWAYS_IN_VIEW;
	if (type == SNMP_MSG_GETBULK) {
		pdu->non_repeaters = 0;
		pdu->max_repetitions = reps;
	}
	snmp_add_null_var(pdu, name, len);
	assert_int_equal(snmp_synch_response(client, pdu, &resp), STAT_SUCCESS);
	assert_non_null(resp);
	return resp;
}

/* ROOT.1.TABLE.1.COLUMN.INDEX... */
static size_t column_oid(oid *out, int table, int column, int n_idx, ...)
{
	va_list ap;
	size_t len = ROOT_LEN;

	memcpy(out, root, sizeof(root));
	out[len++] = 1;
	out[len++] = table;
	out[len++] = 1;
	out[len++] = column;
	va_start(ap, n_idx);
	for (int i = 0; i < n_idx; i++)
		out[len++] = va_arg(ap, unsigned);
	va_end(ap);
	return len;
}

/* GET of one OID; returns the response (caller frees) after checking the status. */
static netsnmp_pdu *get(const oid *name, size_t len)
{
	netsnmp_pdu *resp = send_pdu(SNMP_MSG_GET, name, len, 0);

	assert_int_equal(resp->errstat, SNMP_ERR_NOERROR);
	assert_non_null(resp->variables);
	return resp;
}

static void assert_get_text(const oid *name, size_t len, const char *want)
{
	netsnmp_pdu *resp = get(name, len);
	netsnmp_variable_list *vb = resp->variables;

	assert_int_equal(vb->type, ASN_OCTET_STR);
	assert_int_equal(vb->val_len, strlen(want));
	assert_memory_equal(vb->val.string, want, vb->val_len);
	snmp_free_pdu(resp);
}

static uint64_t counter64_of(const netsnmp_variable_list *vb)
{
	assert_int_equal(vb->type, ASN_COUNTER64);
	return ((uint64_t)vb->val.counter64->high << 32) | (vb->val.counter64->low & 0xffffffffu);
}

static void assert_get_counter64(const oid *name, size_t len, uint64_t want)
{
	netsnmp_pdu *resp = get(name, len);

	assert_int_equal(counter64_of(resp->variables), want);
	snmp_free_pdu(resp);
}

static void assert_get_int(const oid *name, size_t len, u_char type, long want)
{
	netsnmp_pdu *resp = get(name, len);

	assert_int_equal(resp->variables->type, type);
	assert_int_equal(*resp->variables->val.integer, want);
	snmp_free_pdu(resp);
}

static void assert_get_exception(const oid *name, size_t len, u_char exception)
{
	netsnmp_pdu *resp = get(name, len);

	assert_int_equal(resp->variables->type, exception);
	snmp_free_pdu(resp);
}

/* The index a series got, found by GETNEXT over the labels column. */
static unsigned series_index(unsigned metric, const char *labels)
{
	oid name[MAX_OID_LEN];
	size_t len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_LABELS, 1, metric);
	size_t prefix = len;

	for (;;) {
		netsnmp_pdu *resp = send_pdu(SNMP_MSG_GETNEXT, name, len, 0);
		netsnmp_variable_list *vb = resp->variables;
		unsigned idx;

		if (vb->name_length != prefix + 1 ||
		    snmp_oid_compare(vb->name, prefix, name, prefix) != 0) {
			snmp_free_pdu(resp);
			return 0;
		}
		idx = vb->name[prefix];
		if (vb->val_len == strlen(labels) &&
		    memcmp(vb->val.string, labels, vb->val_len) == 0) {
			snmp_free_pdu(resp);
			return idx;
		}
		memcpy(name, vb->name, vb->name_length * sizeof(oid));
		len = vb->name_length;
		snmp_free_pdu(resp);
	}
}

/* The index of metric NAME, by GETNEXT over the names column. */
static unsigned metric_index(const char *metric)
{
	oid name[MAX_OID_LEN];
	size_t len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_NAME, 0);
	size_t prefix = len;

	for (;;) {
		netsnmp_pdu *resp = send_pdu(SNMP_MSG_GETNEXT, name, len, 0);
		netsnmp_variable_list *vb = resp->variables;
		unsigned idx;

		if (vb->name_length != prefix + 1 ||
		    snmp_oid_compare(vb->name, prefix, name, prefix) != 0) {
			snmp_free_pdu(resp);
			return 0;
		}
		idx = vb->name[prefix];
		if (vb->val_len == strlen(metric) &&
		    memcmp(vb->val.string, metric, vb->val_len) == 0) {
			snmp_free_pdu(resp);
			return idx;
		}
		memcpy(name, vb->name, vb->name_length * sizeof(oid));
		len = vb->name_length;
		snmp_free_pdu(resp);
	}
}

/* A walk's result: the OIDs and a printable form of each value. */
struct walk {
	oid (*names)[MAX_OID_LEN];
	size_t *lens;
	char **values;
	size_t n;
};

static void walk_add(struct walk *w, const netsnmp_variable_list *vb)
{
	char buf[2048];

	w->names = realloc(w->names, (w->n + 1) * sizeof(*w->names));
	w->lens = realloc(w->lens, (w->n + 1) * sizeof(*w->lens));
	w->values = realloc(w->values, (w->n + 1) * sizeof(*w->values));
	assert_true(w->names && w->lens && w->values);
	memcpy(w->names[w->n], vb->name, vb->name_length * sizeof(oid));
	w->lens[w->n] = vb->name_length;
	snprint_value(buf, sizeof(buf), vb->name, vb->name_length, vb);
	w->values[w->n] = strdup(buf);
	w->n++;
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->values[i]);
	free(w->names);
	free(w->lens);
	free(w->values);
	memset(w, 0, sizeof(*w));
}

static bool in_root(const oid *name, size_t len)
{
	return len > ROOT_LEN && snmp_oid_compare(name, ROOT_LEN, root, ROOT_LEN) == 0;
}

/* Walk everything under the root with GETNEXT (reps == 0) or GETBULK. */
static void walk_root(struct walk *w, long reps)
{
	oid name[MAX_OID_LEN];
	size_t len = ROOT_LEN;
	bool done = false;

	memset(w, 0, sizeof(*w));
	memcpy(name, root, sizeof(root));
	while (!done) {
		netsnmp_pdu *resp =
			send_pdu(reps ? SNMP_MSG_GETBULK : SNMP_MSG_GETNEXT, name, len, reps);
		netsnmp_variable_list *vb;

		assert_int_equal(resp->errstat, SNMP_ERR_NOERROR);
		for (vb = resp->variables; vb; vb = vb->next_variable) {
			if (vb->type == SNMP_ENDOFMIBVIEW || !in_root(vb->name, vb->name_length)) {
				done = true;
				break;
			}
			walk_add(w, vb);
			memcpy(name, vb->name, vb->name_length * sizeof(oid));
			len = vb->name_length;
		}
		snmp_free_pdu(resp);
		assert_true(w->n < 100000);
	}
}

/* ---- tests ------------------------------------------------------------------------------ */

/* The column numbers in the code are the MIB's. */
static void test_mib_matches_code(void **state)
{
	static const struct {
		const char *name;
		int table, column;
	} objects[] = {
		{ "BPFBRIDGE-MIB::bpfbridgeProgramConfig", 1, BBSNMP_COL_PROGRAM_CONFIG },
		{ "BPFBRIDGE-MIB::bpfbridgeProgramError", 1, BBSNMP_COL_PROGRAM_ERROR },
		{ "BPFBRIDGE-MIB::bpfbridgeProgramStatus", 1, BBSNMP_COL_PROGRAM_STATUS },
		{ "BPFBRIDGE-MIB::bpfbridgeMetricName", 2, BBSNMP_COL_METRIC_NAME },
		{ "BPFBRIDGE-MIB::bpfbridgeMetricBuckets", 2, BBSNMP_COL_METRIC_BUCKETS },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesLabels", 3, BBSNMP_COL_SERIES_LABELS },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesValue", 3, BBSNMP_COL_SERIES_VALUE },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesGauge", 3, BBSNMP_COL_SERIES_GAUGE },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesSumScaled", 3, BBSNMP_COL_SERIES_SUM_SCALED },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesIntervalCount", 3,
		  BBSNMP_COL_SERIES_INTERVAL_COUNT },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesP50", 3, BBSNMP_COL_SERIES_P50 },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesP90", 3, BBSNMP_COL_SERIES_P90 },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesP99", 3, BBSNMP_COL_SERIES_P99 },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesP50Scaled", 3, BBSNMP_COL_SERIES_P50_SCALED },
		{ "BPFBRIDGE-MIB::bpfbridgeSeriesP99Scaled", 3, BBSNMP_COL_SERIES_P99_SCALED },
		{ "BPFBRIDGE-MIB::bpfbridgeBucketUpperBoundRaw", 4,
		  BBSNMP_COL_BUCKET_UPPER_BOUND_RAW },
		{ "BPFBRIDGE-MIB::bpfbridgeBucketCount", 4, BBSNMP_COL_BUCKET_COUNT },
	};

	if (!getenv("BB_MIB_DIR"))
		fail_msg("BB_MIB_DIR is not set: run through make check");
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		oid parsed[MAX_OID_LEN], want[MAX_OID_LEN];
		size_t len = MAX_OID_LEN;
		size_t want_len = column_oid(want, objects[i].table, objects[i].column, 0);

		if (!read_objid(objects[i].name, parsed, &len))
			fail_msg("%s is not in BPFBRIDGE-MIB.txt", objects[i].name);
		if (snmp_oid_compare(parsed, len, want, want_len) != 0)
			fail_msg("%s: the MIB and the code disagree", objects[i].name);
	}
}

static void test_rows_from_snapshot(void **state)
{
	struct bbsnmp_tables *t = bbsnmp_tables_new();
	struct bb_snapshot *snap = snapshot_a();

	assert_int_equal(bbsnmp_tables_update(t, snap, programs_a, 3), 0);
	assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_PROGRAMS), 3);
	assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_METRICS), 5);
	assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_SERIES), 4 + 1 + 2 + 1 + 1);
	assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_BUCKETS), 2 * (4 + 1));
	/* The rows hold the snapshot: dropping ours must not free it. */
	bb_snapshot_unref(snap);
	bbsnmp_tables_clear(t);
	assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_SERIES), 0);
	/* No snapshot at all (no engine loaded): only the programs. */
	assert_int_equal(bbsnmp_tables_update(t, NULL, programs_a, 3), 0);
	assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_PROGRAMS), 3);
	assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_METRICS), 0);
	bbsnmp_tables_free(t);
}

static void test_get_values(void **state)
{
	oid name[MAX_OID_LEN];
	size_t len;
	unsigned sys = metric_index("syscalls_total");
	unsigned bio = metric_index("bio_latency_seconds");
	unsigned gauge = metric_index("bpfbridge_read_duration_seconds");
	unsigned nolabels = metric_index("events_total");
	unsigned ioprio, sda_read;

	assert_true(sys && bio && gauge && nolabels);
	ioprio = series_index(sys, "syscall=\"ioprio_get\"");
	sda_read = series_index(bio, "device=\"sda\",operation=\"read\"");
	assert_true(ioprio && sda_read);

	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_VALUE, 2, sys, ioprio);
	assert_get_counter64(name, len, 7);
	/* Escapes as in Prometheus' text format. */
	assert_int_not_equal(series_index(sys, "syscall=\"we\\\"ird\\\\x\\ny\""), 0);
	assert_int_not_equal(series_index(nolabels, ""), 0);

	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_COUNT, 2, bio, sda_read);
	assert_get_counter64(name, len, 9);
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_SUM, 2, bio, sda_read);
	assert_get_counter64(name, len, 40);
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_SUM_SCALED, 2, bio, sda_read);
	{
		char want[64];

		bb_format_double(40 * 1e-06, want, sizeof(want));
		assert_get_text(name, len, want);
	}

	/* Buckets: cumulative, the last one (+Inf) is the count. */
	len = column_oid(name, BBSNMP_TABLE_BUCKETS, BBSNMP_COL_BUCKET_COUNT, 3, bio, sda_read, 2);
	assert_get_counter64(name, len, 3);
	len = column_oid(name, BBSNMP_TABLE_BUCKETS, BBSNMP_COL_BUCKET_COUNT, 3, bio, sda_read, 5);
	assert_get_counter64(name, len, 9);
	len = column_oid(name, BBSNMP_TABLE_BUCKETS, BBSNMP_COL_BUCKET_UPPER_BOUND, 3, bio,
			 sda_read, 1);
	assert_get_text(name, len, "1e-06");
	len = column_oid(name, BBSNMP_TABLE_BUCKETS, BBSNMP_COL_BUCKET_UPPER_BOUND, 3, bio,
			 sda_read, 5);
	assert_get_text(name, len, "+Inf");
	len = column_oid(name, BBSNMP_TABLE_BUCKETS, BBSNMP_COL_BUCKET_UPPER_BOUND_RAW, 3, bio,
			 sda_read, 4);
	assert_get_int(name, len, ASN_INTEGER, 8);
	len = column_oid(name, BBSNMP_TABLE_BUCKETS, BBSNMP_COL_BUCKET_UPPER_BOUND_RAW, 3, bio,
			 sda_read, 5);
	assert_get_exception(name, len, SNMP_NOSUCHINSTANCE);

	/* Metrics. */
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_KIND, 1, bio);
	assert_get_int(name, len, ASN_INTEGER, 2);
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_LABEL_NAMES, 1, bio);
	assert_get_text(name, len, "device,operation");
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_UNIT, 1, bio);
	assert_get_text(name, len, "seconds");
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_UNIT, 1, sys);
	assert_get_text(name, len, "");
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_UNIT, 1, gauge);
	assert_get_text(name, len, "seconds");
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_MULTIPLIER, 1, gauge);
	assert_get_text(name, len, "1e-06");
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_MULTIPLIER, 1, sys);
	assert_get_text(name, len, "1");
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_MULTIPLIER, 1, bio);
	assert_get_text(name, len, "1e-06");
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_SERIES, 1, sys);
	assert_get_int(name, len, ASN_GAUGE, 4);
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_BUCKETS, 1, bio);
	assert_get_int(name, len, ASN_GAUGE, 5);
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_HELP, 1, sys);
	assert_get_text(name, len, "Syscalls by name.");

	/* A gauge above 2^32 is held at the Gauge32 maximum. */
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_GAUGE, 2, gauge,
			 series_index(gauge, "config=\"syscalls\""));
	assert_get_int(name, len, ASN_GAUGE, 4294967295L);
}

/* Columns that are not the row's kind, missing rows and columns. */
static void test_get_absent(void **state)
{
	oid name[MAX_OID_LEN];
	size_t len;
	unsigned sys = metric_index("syscalls_total");
	unsigned bio = metric_index("bio_latency_seconds");
	unsigned rd = series_index(sys, "syscall=\"read\"");
	unsigned sda = series_index(bio, "device=\"sda\",operation=\"read\"");

	assert_true(rd && sda);
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_COUNT, 2, sys, rd);
	assert_get_exception(name, len, SNMP_NOSUCHINSTANCE);
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_VALUE, 2, bio, sda);
	assert_get_exception(name, len, SNMP_NOSUCHINSTANCE);
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_GAUGE, 2, sys, rd);
	assert_get_exception(name, len, SNMP_NOSUCHINSTANCE);
	/* An index no series has (ids are unique in the process: read's is not
	 * syscall_errors_total's). */
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_VALUE, 2, sys, 999999);
	assert_get_exception(name, len, SNMP_NOSUCHINSTANCE);
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_VALUE, 2,
			 metric_index("syscall_errors_total"), rd);
	assert_get_exception(name, len, SNMP_NOSUCHINSTANCE);
	len = column_oid(name, BBSNMP_TABLE_SERIES, 99, 2, sys, rd);
	assert_get_exception(name, len, SNMP_NOSUCHOBJECT);
	/* The index column is not-accessible. */
	len = column_oid(name, BBSNMP_TABLE_SERIES, 1, 2, sys, rd);
	assert_get_exception(name, len, SNMP_NOSUCHOBJECT);
}

static void test_programs_table(void **state)
{
	oid name[MAX_OID_LEN];
	size_t len;

	len = column_oid(name, BBSNMP_TABLE_PROGRAMS, BBSNMP_COL_PROGRAM_NAME, 1, 1);
	assert_get_text(name, len, "tp_btf_block_rq_issue");
	len = column_oid(name, BBSNMP_TABLE_PROGRAMS, BBSNMP_COL_PROGRAM_STATUS, 1, 1);
	assert_get_int(name, len, ASN_INTEGER, BBSNMP_PROG_ATTACHED);
	len = column_oid(name, BBSNMP_TABLE_PROGRAMS, BBSNMP_COL_PROGRAM_ERROR, 1, 1);
	assert_get_text(name, len, "");
	len = column_oid(name, BBSNMP_TABLE_PROGRAMS, BBSNMP_COL_PROGRAM_ALTERNATIVE, 1, 2);
	assert_get_int(name, len, ASN_INTEGER, 2);
	len = column_oid(name, BBSNMP_TABLE_PROGRAMS, BBSNMP_COL_PROGRAM_ERRNO, 1, 2);
	assert_get_int(name, len, ASN_INTEGER, ENOENT); /* shown positive */
	len = column_oid(name, BBSNMP_TABLE_PROGRAMS, BBSNMP_COL_PROGRAM_STATUS, 1, 3);
	assert_get_int(name, len, ASN_INTEGER, BBSNMP_PROG_CONFIG_FAILED);
	len = column_oid(name, BBSNMP_TABLE_PROGRAMS, BBSNMP_COL_PROGRAM_ERROR, 1, 3);
	assert_get_text(name, len, "broken.yaml:3:5: metrics: expected a mapping, got a sequence");
	len = column_oid(name, BBSNMP_TABLE_PROGRAMS, BBSNMP_COL_PROGRAM_CONFIG, 1, 3);
	assert_get_text(name, len, "broken");
}

/* Count the instances the walk must return, from the snapshot, independently. */
static size_t expected_instances(const struct bb_snapshot *snap)
{
	size_t n = cur_n_programs * 8; /* program columns 2..9 */

	n += snap->n_families * 8; /* metric columns 2..9 */
	for (size_t f = 0; f < snap->n_families; f++) {
		const struct bb_family *fam = &snap->families[f];

		switch (fam->kind) {
		case BB_METRIC_COUNTER:
		case BB_METRIC_GAUGE:
			n += fam->n_series * 2; /* labels + value or gauge */
			break;
		case BB_METRIC_HISTOGRAM:
			n += fam->n_series * 4; /* labels, count, sum, scaled sum */
			/* per bucket: bound, raw bound (finite only), count */
			n += fam->n_series * (fam->n_buckets * 3 + 2);
			break;
		}
	}
	return n;
}

static void test_getnext_order(void **state)
{
	struct walk w;

	walk_root(&w, 0);
	assert_int_equal(w.n, expected_instances(cur_snap));
	for (size_t i = 1; i < w.n; i++)
		if (snmp_oid_compare(w.names[i - 1], w.lens[i - 1], w.names[i], w.lens[i]) >= 0)
			fail_msg("OID %zu is not after OID %zu", i, i - 1);
	/* Every table is present, in order: programs first, buckets last. */
	assert_int_equal(w.names[0][ROOT_LEN + 1], BBSNMP_TABLE_PROGRAMS);
	assert_int_equal(w.names[w.n - 1][ROOT_LEN + 1], BBSNMP_TABLE_BUCKETS);
	/* The last object is the last bucket count of the last histogram series. */
	assert_int_equal(w.names[w.n - 1][ROOT_LEN + 3], BBSNMP_COL_BUCKET_COUNT);
	walk_free(&w);
}

static void test_getbulk_matches_getnext(void **state)
{
	static const long reps[] = { 1, 7, 50 };
	struct walk next, bulk;

	walk_root(&next, 0);
	for (size_t r = 0; r < sizeof(reps) / sizeof(reps[0]); r++) {
		walk_root(&bulk, reps[r]);
		assert_int_equal(bulk.n, next.n);
		for (size_t i = 0; i < next.n; i++) {
			assert_int_equal(snmp_oid_compare(bulk.names[i], bulk.lens[i],
							  next.names[i], next.lens[i]),
					 0);
			assert_string_equal(bulk.values[i], next.values[i]);
		}
		walk_free(&bulk);
	}
	walk_free(&next);
}

/* A walk from below the root and from inside a column land on the next instance. */
static void test_getnext_entry_points(void **state)
{
	oid name[MAX_OID_LEN], want[MAX_OID_LEN];
	size_t len, want_len;
	unsigned sys = metric_index("syscalls_total");
	netsnmp_pdu *resp;

	/* The series table's first column from its entry OID. */
	len = column_oid(name, BBSNMP_TABLE_SERIES, 0, 0) - 1; /* ROOT.1.3.1 */
	resp = send_pdu(SNMP_MSG_GETNEXT, name, len, 0);
	/* read has the lowest id of the metric: the store admitted it first. */
	want_len = column_oid(want, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_LABELS, 2, sys,
			      series_index(sys, "syscall=\"read\""));
	assert_int_equal(snmp_oid_compare(resp->variables->name, resp->variables->name_length, want,
					  want_len),
			 0);
	snmp_free_pdu(resp);

	/* Sparse column: the value column skips histogram and gauge series. */
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_VALUE, 2,
			 metric_index("syscall_errors_total"),
			 series_index(metric_index("syscall_errors_total"),
				      "syscall=\"ioprio_get\",errno=\"EINVAL\""));
	resp = send_pdu(SNMP_MSG_GETNEXT, name, len, 0);
	want_len = column_oid(want, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_VALUE, 2,
			      metric_index("events_total"),
			      series_index(metric_index("events_total"), ""));
	assert_int_equal(snmp_oid_compare(resp->variables->name, resp->variables->name_length, want,
					  want_len),
			 0);
	assert_int_equal(counter64_of(resp->variables), 3);
	snmp_free_pdu(resp);
}

/* Same labels -> same index; a vanished series' index is never reused. */
static void test_index_stability(void **state)
{
	static const char *const names[] = { "syscall" };
	unsigned sys = metric_index("syscalls_total");
	unsigned read_idx = series_index(sys, "syscall=\"read\"");
	unsigned write_idx = series_index(sys, "syscall=\"write\"");
	unsigned ioprio_idx = series_index(sys, "syscall=\"ioprio_get\"");
	unsigned bio = metric_index("bio_latency_seconds");
	struct bb_snapshot *b = bb_snapshot_new();
	struct bb_family *fam;
	unsigned open_idx;

	assert_true(read_idx && write_idx && ioprio_idx);
	/* Snapshot B: write is gone (the store retires it), open is new, the
	 * order is reversed (the tables sort it by id). */
	test_forget_id("syscalls_total", "write");
	fam = bb_snapshot_family(b, "syscalls_total", "Syscalls by name.", BB_METRIC_COUNTER, names,
				 1);
	add_counter(fam, (const char *const[]){ "open" }, 1);
	add_counter(fam, (const char *const[]){ "ioprio_get" }, 8);
	add_counter(fam, (const char *const[]){ "read" }, 101);
	bb_snapshot_finish(b);
	bb_snapshot_unref(cur_snap);
	cur_snap = b;

	assert_int_equal(metric_index("syscalls_total"), sys);
	assert_int_equal(series_index(sys, "syscall=\"read\""), read_idx);
	assert_int_equal(series_index(sys, "syscall=\"ioprio_get\""), ioprio_idx);
	assert_int_equal(series_index(sys, "syscall=\"write\""), 0);
	open_idx = series_index(sys, "syscall=\"open\"");
	assert_true(open_idx > ioprio_idx && open_idx != write_idx);
	/* The histogram is gone from B: its rows too. */
	assert_int_equal(metric_index("bio_latency_seconds"), 0);

	/* Back to A: write was retired by the store, so it comes back under a
	 * new id, hence a new index; open is retired now. */
	test_forget_id("syscalls_total", "open");
	bb_snapshot_unref(cur_snap);
	cur_snap = snapshot_a();
	assert_true(series_index(sys, "syscall=\"write\"") > open_idx);
	assert_int_equal(series_index(sys, "syscall=\"read\""), read_idx);
	assert_int_equal(metric_index("bio_latency_seconds"), bio);
	assert_int_equal(series_index(sys, "syscall=\"open\""), 0);
}

/* A snapshot with counter series "s<first>".."s<first+n-1>" of metric
 * churn_total, series "s<i>" with id ID0 + i (as a store that admitted them
 * in that order would give). */
static struct bb_snapshot *churn_snapshot(unsigned first, unsigned n, uint64_t id0)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	struct bb_family *fam =
		bb_snapshot_family(snap, "churn_total", "", BB_METRIC_COUNTER, name_syscall, 1);
	char value[32];

	assert_non_null(fam);
	for (unsigned i = first; i < first + n; i++) {
		const char *values[] = { value };
		struct bb_series *s;

		snprintf(value, sizeof(value), "s%u", i);
		s = bb_family_add_series(fam, values);
		assert_non_null(s);
		s->id = id0 + i;
		s->value = i;
	}
	bb_snapshot_finish(snap);
	return snap;
}

static uint32_t churn_index(struct bbsnmp_tables *t, unsigned i)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "syscall=\"s%u\"", i);
	return bbsnmp_tables_series_index(t, "churn_total", labels);
}

/* A series' index is its id: kept while the store keeps the series, gone
 * with its row from the first load it is not in, and never another label
 * set's. The tables keep no per-series index state: churn leaves the index
 * maps at their one metric entry and the heap flat. */
static void test_index_is_series_id(void **state)
{
	struct bbsnmp_tables *t = bbsnmp_tables_new();
	struct bb_snapshot *snap = churn_snapshot(0, 3, 100);
	size_t heap_at_1000 = 0;

	assert_int_equal(bbsnmp_tables_update(t, snap, NULL, 0), 0);
	bb_snapshot_unref(snap);
	assert_int_equal(churn_index(t, 0), 100);
	assert_int_equal(churn_index(t, 1), 101);
	assert_int_equal(churn_index(t, 2), 102);
	assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_SERIES), 3);
	/* s1 and s2 retired by the store: their rows are gone at once. */
	snap = churn_snapshot(0, 1, 100);
	assert_int_equal(bbsnmp_tables_update(t, snap, NULL, 0), 0);
	bb_snapshot_unref(snap);
	assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_SERIES), 1);
	assert_int_equal(churn_index(t, 1), 0);
	/* s1 admitted again by the store: a new id, so a new index. */
	snap = churn_snapshot(1, 1, 200);
	assert_int_equal(bbsnmp_tables_update(t, snap, NULL, 0), 0);
	bb_snapshot_unref(snap);
	assert_int_equal(churn_index(t, 1), 201);
	assert_int_equal(bbsnmp_tables_index_entries(t), 1);

	/* Churn: 20 new series per load for 10k loads, each seen once. */
	for (unsigned load = 0; load < 10000; load++) {
		uint64_t id0 = 1000 + (uint64_t)load * 20;

		snap = churn_snapshot(1000 + load * 20, 20, id0 - 1000 - load * 20);
		assert_int_equal(bbsnmp_tables_update(t, snap, NULL, 0), 0);
		bb_snapshot_unref(snap);
		assert_int_equal(bbsnmp_tables_rows(t, BBSNMP_TABLE_SERIES), 20);
		for (unsigned i = 0; i < 20; i += 7)
			assert_int_equal(churn_index(t, 1000 + load * 20 + i), id0 + i);
		assert_int_equal(bbsnmp_tables_index_entries(t), 1);
		if (load == 1000)
			heap_at_1000 = mallinfo2().uordblks;
	}
	/* Flat: within 64 KiB of load 1000 (0 under valgrind, which has its own heap). */
	assert_true(mallinfo2().uordblks <= heap_at_1000 + 65536);
	bbsnmp_tables_free(t);
}

/* Ids are unique per store; two series with one id in a family (not from a
 * store) show the first; two with equal labels and their own ids are two rows. */
static void test_duplicate_ids(void **state)
{
	static const double le[] = { 1, 2 };
	static const int64_t le_raw[] = { 1, 2 };
	static const uint64_t cum1[] = { 1, 2 }, cum2[] = { 0, 5 };
	struct bb_snapshot *snap = bb_snapshot_new();
	struct bb_family *fam;
	struct bb_series *s;
	oid name[MAX_OID_LEN];
	size_t len;
	unsigned m, h;

	fam = bb_snapshot_family(snap, "dup_total", "", BB_METRIC_COUNTER, name_syscall, 1);
	s = bb_family_add_series(fam, (const char *const[]){ "x" });
	s->id = 7;
	s->value = 2;
	s = bb_family_add_series(fam, (const char *const[]){ "y" });
	s->id = 7;
	s->value = 3;
	s = bb_family_add_series(fam, (const char *const[]){ "x" });
	s->id = 5;
	s->value = 4;
	fam = bb_snapshot_family(snap, "dup_hist", "", BB_METRIC_HISTOGRAM, name_syscall, 1);
	assert_int_equal(bb_family_set_buckets(fam, le, le_raw, 2, 1), 0);
	add_hist(fam, (const char *const[]){ "y" }, cum1, 3, 10);
	fam->series[0].id = 9;
	add_hist(fam, (const char *const[]){ "y" }, cum2, 6, 20);
	fam->series[1].id = 9;
	bb_snapshot_finish(snap);
	bb_snapshot_unref(cur_snap);
	cur_snap = snap;

	m = metric_index("dup_total");
	h = metric_index("dup_hist");
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_VALUE, 2, m, 7);
	assert_get_counter64(name, len, 2);
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_VALUE, 2, m, 5);
	assert_get_counter64(name, len, 4);
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_LABELS, 2, m, 5);
	assert_get_text(name, len, "syscall=\"x\"");
	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_COUNT, 2, h, 9);
	assert_get_counter64(name, len, 3);
	len = column_oid(name, BBSNMP_TABLE_BUCKETS, BBSNMP_COL_BUCKET_COUNT, 3, h, 9, 2);
	assert_get_counter64(name, len, 2);
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_SERIES, 1, m);
	assert_get_int(name, len, ASN_GAUGE, 2);
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_SERIES, 1, h);
	assert_get_int(name, len, ASN_GAUGE, 1);
}

/* Texts longer than BpfbridgeText's 1024 octets are cut on a character boundary. */
static void test_long_text_cut(void **state)
{
	char value[3000];
	struct bb_snapshot *snap = bb_snapshot_new();
	struct bb_family *fam;
	oid name[MAX_OID_LEN];
	size_t len, n = 0;
	netsnmp_pdu *resp;
	netsnmp_variable_list *vb;

	/* "syscall=\"" is 9 octets; then 2-octet characters (é). */
	while (n + 2 < sizeof(value) - 1) {
		value[n++] = (char)0xc3;
		value[n++] = (char)0xa9;
	}
	value[n] = '\0';
	fam = bb_snapshot_family(snap, "long_total", "", BB_METRIC_COUNTER, name_syscall, 1);
	add_counter(fam, (const char *const[]){ value }, 1);
	bb_snapshot_finish(snap);
	bb_snapshot_unref(cur_snap);
	cur_snap = snap;

	len = column_oid(name, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_LABELS, 2,
			 metric_index("long_total"), (unsigned)fam->series[0].id);
	resp = get(name, len);
	vb = resp->variables;
	assert_int_equal(vb->type, ASN_OCTET_STR);
	assert_true(vb->val_len <= BBSNMP_TEXT_MAX && vb->val_len >= BBSNMP_TEXT_MAX - 4);
	assert_memory_equal(vb->val.string + vb->val_len - 3, "...", 3);
	/* 9 ASCII octets, then whole 2-octet characters. */
	assert_int_equal((vb->val_len - 3 - 9) % 2, 0);
	snmp_free_pdu(resp);
}

/* One load serves every PDU of a cache period. */
static void test_cache_period(void **state)
{
	struct bbsnmp_tables *t = *state;
	oid name[MAX_OID_LEN];
	size_t len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_NAME, 1, 1);
	netsnmp_pdu *resp;

	/* Timeout 0: every PDU loads once, however many tables it touches. */
	n_loads = 0;
	snmp_free_pdu(get(name, len));
	snmp_free_pdu(get(name, len));
	assert_int_equal(n_loads, 2);
	{
		oid other[MAX_OID_LEN];
		unsigned bio = metric_index("bio_latency_seconds");
		size_t other_len =
			column_oid(other, BBSNMP_TABLE_BUCKETS, BBSNMP_COL_BUCKET_COUNT, 3, bio,
				   series_index(bio, "device=\"sda\",operation=\"read\""), 1);
		netsnmp_pdu *pdu = snmp_pdu_create(SNMP_MSG_GET), *r = NULL;

		pdu->flags |= UCD_MSG_FLAG_ALWAYS_IN_VIEW;
		snmp_add_null_var(pdu, name, len);
		snmp_add_null_var(pdu, other, other_len);
		n_loads = 0;
		assert_int_equal(snmp_synch_response(client, pdu, &r), STAT_SUCCESS);
		assert_int_equal(r->errstat, SNMP_ERR_NOERROR);
		assert_int_equal(r->variables->type, ASN_OCTET_STR);
		assert_int_equal(r->variables->next_variable->type, ASN_COUNTER64);
		snmp_free_pdu(r);
		assert_int_equal(n_loads, 1);
	}
	/* A GETBULK across all four tables: one load too. */
	n_loads = 0;
	snmp_free_pdu(send_pdu(SNMP_MSG_GETBULK, root, ROOT_LEN, 400));
	assert_int_equal(n_loads, 1);

	bbsnmp_tables_unregister(t);
	assert_int_equal(bbsnmp_tables_register(t, root, ROOT_LEN, 600, test_load, NULL), 0);
	n_loads = 0;
	for (int i = 0; i < 5; i++)
		snmp_free_pdu(get(name, len));
	resp = send_pdu(SNMP_MSG_GETBULK, root, ROOT_LEN, 40);
	snmp_free_pdu(resp);
	assert_int_equal(n_loads, 1);
}

static void test_unregister_and_again(void **state)
{
	struct bbsnmp_tables *t = *state;
	oid name[MAX_OID_LEN];
	size_t len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_NAME, 1, 1);

	/* Registering twice is refused, not duplicated. */
	assert_int_equal(bbsnmp_tables_register(t, root, ROOT_LEN, 0, test_load, NULL), -EALREADY);
	bbsnmp_tables_unregister(t);
	assert_get_exception(name, len, SNMP_NOSUCHOBJECT);
	bbsnmp_tables_unregister(t); /* harmless */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bbsnmp_tables_register(t, root, ROOT_LEN, 0, test_load, NULL), 0);
		assert_get_text(name, len, "syscalls_total");
		bbsnmp_tables_unregister(t);
	}
	assert_int_equal(bbsnmp_tables_register(t, root, ROOT_LEN, 0, test_load, NULL), 0);
}

/* Another agent module already owns the subtree: registration fails cleanly. */
static void test_duplicate_registration_refused(void **state)
{
	struct bbsnmp_tables *other = bbsnmp_tables_new();

	assert_non_null(other);
	assert_int_not_equal(bbsnmp_tables_register(other, root, ROOT_LEN, 0, test_load, NULL), 0);
	bbsnmp_tables_free(other);
	/* The first registration still answers. */
	assert_int_not_equal(metric_index("syscalls_total"), 0);
}

static void test_configured_root(void **state)
{
	struct bbsnmp_tables *t = *state;
	static const oid other_root[] = { 1, 3, 6, 1, 4, 1, 99999, 7 };
	oid name[MAX_OID_LEN];
	size_t len = sizeof(other_root) / sizeof(other_root[0]);
	netsnmp_pdu *resp;

	bbsnmp_tables_unregister(t);
	assert_int_equal(bbsnmp_tables_register(t, other_root, len, 0, test_load, NULL), 0);
	memcpy(name, other_root, sizeof(other_root));
	name[len++] = 1;
	name[len++] = BBSNMP_TABLE_METRICS;
	name[len++] = 1;
	name[len++] = BBSNMP_COL_METRIC_NAME;
	name[len++] = 1;
	assert_get_text(name, len, "syscalls_total");
	len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_NAME, 1, 1);
	resp = get(name, len);
	assert_true(resp->variables->type == SNMP_NOSUCHOBJECT);
	snmp_free_pdu(resp);
}

static void test_set_refused(void **state)
{
	oid name[MAX_OID_LEN];
	size_t len = column_oid(name, BBSNMP_TABLE_METRICS, BBSNMP_COL_METRIC_NAME, 1, 1);
	netsnmp_pdu *pdu = snmp_pdu_create(SNMP_MSG_SET), *resp = NULL;

	pdu->flags |= UCD_MSG_FLAG_ALWAYS_IN_VIEW;
	snmp_pdu_add_variable(pdu, name, len, ASN_OCTET_STR, "x", 1);
	assert_int_equal(snmp_synch_response(client, pdu, &resp), STAT_SUCCESS);
	assert_non_null(resp);
	assert_true(resp->errstat == SNMP_ERR_NOTWRITABLE || resp->errstat == SNMP_ERR_NOACCESS);
	snmp_free_pdu(resp);
}

static void test_settings(void **state)
{
	struct bbsnmp_settings s;
	static const oid want[] = { 1, 3, 6, 1, 4, 1, 8072, 9999, 42 };

	bbsnmp_settings_init(&s);
	assert_int_equal(s.cache_timeout, BBSNMP_DEFAULT_CACHE_TIMEOUT);
	assert_int_equal(snmp_oid_compare(s.root, s.root_len, root, ROOT_LEN), 0);

	assert_null(bbsnmp_set_root_oid(&s, ".1.3.6.1.4.1.8072.9999.42"));
	assert_int_equal(snmp_oid_compare(s.root, s.root_len, want, 9), 0);
	assert_null(bbsnmp_set_root_oid(&s, "1.3.6.1.4.1.8072.9999.42"));
	assert_int_equal(snmp_oid_compare(s.root, s.root_len, want, 9), 0);
	assert_non_null(bbsnmp_set_root_oid(&s, ".1.3.x"));
	assert_non_null(bbsnmp_set_root_oid(&s, "1"));
	assert_non_null(bbsnmp_set_root_oid(&s, ""));
	if (getenv("BB_MIB_DIR")) {
		assert_null(bbsnmp_set_root_oid(&s, "BPFBRIDGE-MIB::bpfbridgeMIB"));
		assert_int_equal(snmp_oid_compare(s.root, s.root_len, root, ROOT_LEN), 0);
	}

	assert_null(bbsnmp_set_cache_timeout(&s, "0"));
	assert_int_equal(s.cache_timeout, 0);
	assert_null(bbsnmp_set_cache_timeout(&s, "30"));
	assert_int_equal(s.cache_timeout, 30);
	assert_non_null(bbsnmp_set_cache_timeout(&s, "-1"));
	assert_non_null(bbsnmp_set_cache_timeout(&s, "5s"));
	assert_non_null(bbsnmp_set_cache_timeout(&s, "86401"));
	assert_int_equal(s.cache_timeout, 30);

	assert_null(bbsnmp_set_strict(&s, "yes"));
	assert_true(s.strict);
	assert_null(bbsnmp_set_strict(&s, "Off"));
	assert_false(s.strict);
	assert_non_null(bbsnmp_set_strict(&s, "maybe"));

	assert_null(bbsnmp_add_configs(&s, "syscalls biolatency"));
	assert_null(bbsnmp_add_configs(&s, "runqlat,vfs-latency.yaml"));
	assert_int_equal(s.n_configs, 4);
	assert_string_equal(s.configs[0], "syscalls");
	assert_string_equal(s.configs[3], "vfs-latency.yaml");
	assert_non_null(bbsnmp_add_configs(&s, "  "));

	assert_null(bbsnmp_set_max_series(&s, "500"));
	assert_int_equal(s.max_series, 500);
	assert_non_null(bbsnmp_set_max_series(&s, "-3"));
	assert_non_null(bbsnmp_set_config_dir(&s, ""));
	assert_null(bbsnmp_set_config_dir(&s, "/etc/bpfbridge"));
	assert_string_equal(s.config_dir, "/etc/bpfbridge");
	bbsnmp_settings_destroy(&s);
}

static void test_index_map(void **state)
{
	struct bbsnmp_index_map map;
	char key[32];

	bbsnmp_index_map_init(&map, NULL);
	/* Enough keys to grow the table several times; indexes stay put. */
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);
		struct bbsnmp_index_entry *e = bbsnmp_index_get(&map, key, n);

		assert_non_null(e);
		assert_int_equal(e->index, i + 1);
	}
	for (int i = 4999; i >= 0; i--) {
		int n = snprintf(key, sizeof(key), "k%d", i);

		assert_int_equal(bbsnmp_index_get(&map, key, n)->index, i + 1);
	}
	/* Keys are bytes: an embedded NUL makes a different key. */
	assert_int_equal(bbsnmp_index_get(&map, "a\0b", 3)->index, 5001);
	assert_int_equal(bbsnmp_index_get(&map, "a\0c", 3)->index, 5002);
	assert_int_equal(bbsnmp_index_get(&map, "a", 1)->index, 5003);
	/* Exhausted index space is an error, never a wrap-around. */
	map.last_index = UINT32_MAX;
	errno = 0;
	assert_null(bbsnmp_index_get(&map, "new", 3));
	assert_int_equal(errno, ERANGE);
	assert_int_equal(bbsnmp_index_get(&map, "k7", 2)->index, 8);
	bbsnmp_index_map_destroy(&map);
}

/* ---- walk equivalence: the virtual tables against the materialized rows ------------ */

/*
 * The oracle: every instance the series and bucket tables had when they were
 * materialized (one row per series and one per bucket in a table_container),
 * computed here from the snapshot alone. A fresh registration hands out
 * indexes in first-seen order: metric f + 1, series in order of first
 * appearance, duplicates added into the first.
 */
struct inst {
	oid name[MAX_OID_LEN];
	size_t len;
	char value[256];
};

struct oracle {
	struct inst *v;
	size_t n, cap;
};

static struct inst *oracle_add(struct oracle *o, int table, unsigned col, unsigned m, unsigned s,
			       unsigned b)
{
	struct inst *in;

	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 256;
		o->v = realloc(o->v, o->cap * sizeof(*o->v));
		assert_non_null(o->v);
	}
	in = &o->v[o->n++];
	in->len = b ? column_oid(in->name, table, col, 3, m, s, b)
		    : column_oid(in->name, table, col, 2, m, s);
	return in;
}

static int compare_inst(const void *a, const void *b)
{
	const struct inst *x = a, *y = b;

	return snmp_oid_compare(x->name, x->len, y->name, y->len);
}

/* A varbind's type and value as text, the way the oracle writes them. */
static void value_text(const netsnmp_variable_list *vb, char *buf, size_t len)
{
	switch (vb->type) {
	case ASN_OCTET_STR:
		snprintf(buf, len, "s:%.*s", (int)vb->val_len, (const char *)vb->val.string);
		break;
	case ASN_COUNTER64:
		snprintf(buf, len, "c64:%llu", (unsigned long long)counter64_of(vb));
		break;
	case ASN_INTEGER:
		snprintf(buf, len, "i:%ld", *vb->val.integer);
		break;
	case ASN_GAUGE:
		snprintf(buf, len, "g:%lu", (unsigned long)*vb->val.integer);
		break;
	default:
		snprintf(buf, len, "type %d", vb->type);
	}
}

struct merged {
	char labels[256];
	unsigned first; /* series index in the family: the series' id */
	uint64_t value, count, sum_raw, cum[16];
	double sum;
	bool iv_valid;
	uint64_t iv_count, iv_cum[16];
};

static void build_oracle(const struct bb_snapshot *snap, struct oracle *o)
{
	memset(o, 0, sizeof(*o));
	for (size_t f = 0; f < snap->n_families; f++) {
		const struct bb_family *fam = &snap->families[f];
		struct merged *rows = calloc(fam->n_series + 1, sizeof(*rows));
		size_t n_rows = 0;

		assert_non_null(rows);
		for (size_t i = 0; i < fam->n_series; i++) {
			const struct bb_series *s = &fam->series[i];
			char labels[256] = "";
			size_t r;

			/* Index = id; an id outside 1..2^32-1 is not served, and of two
			 * series with one id the first in the snapshot is. */
			if (s->id < 1 || s->id > UINT32_MAX)
				continue;
			for (r = 0; r < n_rows && rows[r].first != s->id; r++)
				;
			if (r < n_rows)
				continue;
			for (size_t l = 0; l < fam->n_labels; l++)
				snprintf(labels + strlen(labels), sizeof(labels) - strlen(labels),
					 "%s%s=\"%s\"", l ? "," : "", fam->label_names[l],
					 s->label_values[l]);
			snprintf(rows[r].labels, sizeof(rows[r].labels), "%s", labels);
			rows[r].first = (unsigned)s->id;
			n_rows++;
			rows[r].iv_valid = s->iv.valid;
			rows[r].iv_count += s->iv.count;
			for (size_t b = 0; b < fam->n_buckets; b++)
				rows[r].iv_cum[b] += s->iv.buckets[b];
			rows[r].value += s->value;
			rows[r].count += s->count;
			rows[r].sum_raw += s->sum_raw;
			rows[r].sum += s->sum;
			for (size_t b = 0; b < fam->n_buckets; b++)
				rows[r].cum[b] += s->buckets[b];
		}
		for (size_t r = 0; r < n_rows; r++) {
			const struct merged *row = &rows[r];
			unsigned m = f + 1, s = row->first;
			struct inst *in;

			in = oracle_add(o, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_LABELS, m, s, 0);
			snprintf(in->value, sizeof(in->value), "s:%s", row->labels);
			switch (fam->kind) {
			case BB_METRIC_COUNTER:
				in = oracle_add(o, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_VALUE, m,
						s, 0);
				snprintf(in->value, sizeof(in->value), "c64:%llu",
					 (unsigned long long)row->value);
				break;
			case BB_METRIC_GAUGE:
				in = oracle_add(o, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_GAUGE, m,
						s, 0);
				snprintf(in->value, sizeof(in->value), "g:%llu",
					 (unsigned long long)(row->value > UINT32_MAX
								      ? UINT32_MAX
								      : row->value));
				break;
			case BB_METRIC_HISTOGRAM: {
				char num[64];

				in = oracle_add(o, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_COUNT, m,
						s, 0);
				snprintf(in->value, sizeof(in->value), "c64:%llu",
					 (unsigned long long)row->count);
				in = oracle_add(o, BBSNMP_TABLE_SERIES, BBSNMP_COL_SERIES_SUM, m, s,
						0);
				snprintf(in->value, sizeof(in->value), "c64:%llu",
					 (unsigned long long)row->sum_raw);
				in = oracle_add(o, BBSNMP_TABLE_SERIES,
						BBSNMP_COL_SERIES_SUM_SCALED, m, s, 0);
				bb_format_double(row->sum, num, sizeof(num));
				snprintf(in->value, sizeof(in->value), "s:%s", num);
				if (row->iv_valid) {
					in = oracle_add(o, BBSNMP_TABLE_SERIES,
							BBSNMP_COL_SERIES_INTERVAL_COUNT, m, s, 0);
					snprintf(in->value, sizeof(in->value), "g:%llu",
						 (unsigned long long)row->iv_count);
				}
				for (unsigned c = BBSNMP_COL_SERIES_P50;
				     row->iv_valid && row->iv_count && fam->n_buckets &&
				     c <= BBSNMP_COL_SERIES_P99_SCALED;
				     c++) {
					static const double qs[] = { 0.5, 0.9, 0.99 };
					double raw_le[16], q;

					for (size_t b = 0; b < fam->n_buckets; b++)
						raw_le[b] = (double)fam->le_raw[b];
					in = oracle_add(o, BBSNMP_TABLE_SERIES, c, m, s, 0);
					if (c <= BBSNMP_COL_SERIES_P99) {
						q = bb_hist_quantile(qs[c - BBSNMP_COL_SERIES_P50],
								     raw_le, row->iv_cum,
								     fam->n_buckets, row->iv_count);
						snprintf(
							in->value, sizeof(in->value), "g:%llu",
							(unsigned long long)(q <= 0 ? 0
									     : q >= 4294967295.0
										     ? 4294967295.0
										     : llround(q)));
					} else {
						q = bb_hist_quantile(
							qs[c - BBSNMP_COL_SERIES_P50_SCALED],
							fam->le, row->iv_cum, fam->n_buckets,
							row->iv_count);
						bb_format_double(q, num, sizeof(num));
						snprintf(in->value, sizeof(in->value), "s:%s", num);
					}
				}
				for (unsigned b = 1; b <= fam->n_buckets + 1; b++) {
					bool inf = b > fam->n_buckets;

					in = oracle_add(o, BBSNMP_TABLE_BUCKETS,
							BBSNMP_COL_BUCKET_UPPER_BOUND, m, s, b);
					if (inf)
						snprintf(in->value, sizeof(in->value), "s:+Inf");
					else {
						bb_format_double(fam->le[b - 1], num, sizeof(num));
						snprintf(in->value, sizeof(in->value), "s:%s", num);
					}
					if (!inf && fam->le_raw[b - 1] >= INT32_MIN &&
					    fam->le_raw[b - 1] <= INT32_MAX) {
						in = oracle_add(o, BBSNMP_TABLE_BUCKETS,
								BBSNMP_COL_BUCKET_UPPER_BOUND_RAW,
								m, s, b);
						snprintf(in->value, sizeof(in->value), "i:%lld",
							 (long long)fam->le_raw[b - 1]);
					}
					in = oracle_add(o, BBSNMP_TABLE_BUCKETS,
							BBSNMP_COL_BUCKET_COUNT, m, s, b);
					snprintf(in->value, sizeof(in->value), "c64:%llu",
						 (unsigned long long)(inf ? row->count
									  : row->cum[b - 1]));
				}
				break;
			}
			}
		}
		free(rows);
	}
	qsort(o->v, o->n, sizeof(*o->v), compare_inst);
}

/* A random snapshot: counters, gauges and histograms of random sizes, with
 * ids as a store gives them (ascending, with gaps where series retired); in
 * some families shuffled, repeated or out of the index range, which the
 * tables must sort, dedupe (first shown) and skip. */
static struct bb_snapshot *random_snapshot(unsigned *seed)
{
	struct bb_snapshot *snap = bb_snapshot_new();
	unsigned n_fam = 1 + rand_r(seed) % 5;

	assert_non_null(snap);
	for (unsigned f = 0; f < n_fam; f++) {
		static const enum bb_metric_kind kinds[] = { BB_METRIC_HISTOGRAM,
							     BB_METRIC_HISTOGRAM, BB_METRIC_COUNTER,
							     BB_METRIC_GAUGE };
		enum bb_metric_kind kind = kinds[rand_r(seed) % 4];
		unsigned n_series = rand_r(seed) % 4 == 0 ? 0 : 1 + rand_r(seed) % 40;
		unsigned pool = 1 + rand_r(seed) % 60;
		char fname[32];
		struct bb_family *fam;

		snprintf(fname, sizeof(fname), "m%u", f);
		fam = bb_snapshot_family(snap, fname, "", kind, name_syscall_errno, 2);
		assert_non_null(fam);
		if (kind == BB_METRIC_HISTOGRAM) {
			unsigned nb = rand_r(seed) % 13;
			double le[16];
			int64_t raw[16];
			int64_t r = (int64_t)(rand_r(seed) % 4) - 1;

			for (unsigned b = 0; b < nb; b++) {
				/* Some bounds do not fit an Integer32: no raw column there. */
				r += rand_r(seed) % 3 == 0 ? (int64_t)1 << 31
							   : 1 + rand_r(seed) % 9;
				raw[b] = r;
				le[b] = (double)r * 0.001;
			}
			assert_int_equal(bb_family_set_buckets(fam, le, raw, nb, 0.001), 0);
		}
		unsigned odd_ids = rand_r(seed) % 6; /* 0: shuffled, 1: a repeat, 2: too big */
		uint64_t id = 1 + rand_r(seed) % 1000;

		for (unsigned i = 0; i < n_series; i++) {
			char a[16], b[16];
			const char *values[] = { a, b };
			unsigned k = rand_r(seed) % pool;
			struct bb_series *s;

			snprintf(a, sizeof(a), "x%u", k % 7);
			snprintf(b, sizeof(b), "%u", k);
			s = bb_family_add_series(fam, values);
			assert_non_null(s);
			s->id = id;
			id += 1 + (rand_r(seed) % 4 == 0 ? rand_r(seed) % 50 : 0);
			if (odd_ids == 1 && i > 0 && rand_r(seed) % 5 == 0)
				s->id = fam->series[rand_r(seed) % i].id;
			if (odd_ids == 2 && rand_r(seed) % 5 == 0)
				s->id = rand_r(seed) % 2 ? 0 : (uint64_t)UINT32_MAX + 1 + i;
			s->value = rand_r(seed) % 3 == 0 ? (uint64_t)rand_r(seed) << 20
							 : rand_r(seed) % 1000;
			if (kind == BB_METRIC_HISTOGRAM) {
				uint64_t c = 0;

				for (size_t bk = 0; bk < fam->n_buckets; bk++) {
					c += rand_r(seed) % 5;
					s->buckets[bk] = c;
				}
				s->count = c + rand_r(seed) % 3;
				/* The last interval: unknown, empty, or some of it. */
				s->iv.valid = rand_r(seed) % 4 != 0;
				c = 0;
				for (size_t bk = 0; bk < fam->n_buckets && s->iv.valid; bk++) {
					c += rand_r(seed) % 3 == 0 ? 0 : rand_r(seed) % 4;
					s->iv.buckets[bk] = c;
				}
				s->iv.count = s->iv.valid ? c + rand_r(seed) % 2 : 0;
				s->sum_raw = rand_r(seed) % 100000;
				s->sum = s->sum_raw * fam->multiplier;
			}
		}
		for (unsigned i = 0; odd_ids == 0 && i < n_series; i++) {
			unsigned j = rand_r(seed) % n_series;
			uint64_t tmp = fam->series[i].id;

			fam->series[i].id = fam->series[j].id;
			fam->series[j].id = tmp;
		}
	}
	bb_snapshot_finish(snap);
	return snap;
}

/* The first oracle instance after NAME, or NULL. */
static const struct inst *oracle_next(const struct oracle *o, const oid *name, size_t len)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (snmp_oid_compare(o->v[mid].name, o->v[mid].len, name, len) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < o->n ? &o->v[lo] : NULL;
}

static const struct inst *oracle_find(const struct oracle *o, const oid *name, size_t len)
{
	const struct inst *in;
	oid before[MAX_OID_LEN];

	/* The instance itself is the one after NAME minus its last step. */
	memcpy(before, name, len * sizeof(oid));
	if (len == 0 || before[len - 1] == 0)
		return NULL;
	before[len - 1]--;
	in = oracle_next(o, before, len);
	while (in && snmp_oid_compare(in->name, in->len, before, len) <= 0)
		in++;
	return in && snmp_oid_compare(in->name, in->len, name, len) == 0 ? in : NULL;
}

/* Is NAME inside the series or the bucket table? */
static bool in_virtual(const oid *name, size_t len)
{
	return in_root(name, len) && len > ROOT_LEN + 1 && name[ROOT_LEN] == 1 &&
	       (name[ROOT_LEN + 1] == BBSNMP_TABLE_SERIES ||
		name[ROOT_LEN + 1] == BBSNMP_TABLE_BUCKETS);
}

static void fail_oid(const char *what, const oid *from, size_t from_len, const oid *got,
		     size_t got_len, const char *want)
{
	char a[512], b[512];

	snprint_objid(a, sizeof(a), from, from_len);
	snprint_objid(b, sizeof(b), got, got_len);
	fail_msg("%s from %s: got %s, want %s", what, a, b, want);
}

static void check_getnext(const struct oracle *o, const oid *name, size_t len)
{
	netsnmp_pdu *resp = send_pdu(SNMP_MSG_GETNEXT, name, len, 0);
	const netsnmp_variable_list *vb = resp->variables;
	const struct inst *want = oracle_next(o, name, len);
	char buf[512];

	assert_int_equal(resp->errstat, SNMP_ERR_NOERROR);
	if (!want) {
		if (vb->type != SNMP_ENDOFMIBVIEW && in_virtual(vb->name, vb->name_length))
			fail_oid("GETNEXT", name, len, vb->name, vb->name_length,
				 "past the tables");
	} else {
		if (snmp_oid_compare(vb->name, vb->name_length, want->name, want->len) != 0) {
			snprint_objid(buf, sizeof(buf), want->name, want->len);
			fail_oid("GETNEXT", name, len, vb->name, vb->name_length, buf);
		}
		value_text(vb, buf, sizeof(buf));
		assert_string_equal(buf, want->value);
	}
	snmp_free_pdu(resp);
}

static void check_get(const struct oracle *o, const oid *name, size_t len)
{
	netsnmp_pdu *resp = send_pdu(SNMP_MSG_GET, name, len, 0);
	const netsnmp_variable_list *vb = resp->variables;
	const struct inst *want = oracle_find(o, name, len);
	char buf[512];

	assert_int_equal(resp->errstat, SNMP_ERR_NOERROR);
	if (!want) {
		if (vb->type != SNMP_NOSUCHINSTANCE && vb->type != SNMP_NOSUCHOBJECT)
			fail_oid("GET", name, len, vb->name, vb->name_length, "no such instance");
	} else {
		value_text(vb, buf, sizeof(buf));
		assert_string_equal(buf, want->value);
	}
	snmp_free_pdu(resp);
}

/* Walk from ROOT.1.3 to the end of the bucket table, GETNEXT or GETBULK. */
static void walk_virtual(const struct oracle *o, long reps)
{
	oid name[MAX_OID_LEN];
	size_t len = column_oid(name, BBSNMP_TABLE_SERIES, 0, 0) - 2;
	size_t n = 0;
	bool done = false;

	while (!done) {
		netsnmp_pdu *resp =
			send_pdu(reps ? SNMP_MSG_GETBULK : SNMP_MSG_GETNEXT, name, len, reps);
		const netsnmp_variable_list *vb;
		char buf[512];

		assert_int_equal(resp->errstat, SNMP_ERR_NOERROR);
		for (vb = resp->variables; vb; vb = vb->next_variable) {
			if (vb->type == SNMP_ENDOFMIBVIEW ||
			    !in_virtual(vb->name, vb->name_length)) {
				done = true;
				break;
			}
			if (n >= o->n)
				fail_oid("walk", name, len, vb->name, vb->name_length, "the end");
			if (snmp_oid_compare(vb->name, vb->name_length, o->v[n].name,
					     o->v[n].len) != 0) {
				snprint_objid(buf, sizeof(buf), o->v[n].name, o->v[n].len);
				fail_oid("walk", name, len, vb->name, vb->name_length, buf);
			}
			value_text(vb, buf, sizeof(buf));
			assert_string_equal(buf, o->v[n].value);
			n++;
			memcpy(name, vb->name, vb->name_length * sizeof(oid));
			len = vb->name_length;
		}
		snmp_free_pdu(resp);
	}
	assert_int_equal(n, o->n);
}

/* A probe OID: in, between, before and after the instances, or cut short. */
static size_t random_probe(unsigned *seed, const struct oracle *o, oid *name)
{
	static const oid odd[] = { 0, 1, 2, 3, 13, 14, 0xffffffffUL };
	size_t len;
	unsigned k = rand_r(seed) % 10;

	if (o->n && k < 4) {
		/* An instance, cut short, stepped on or off, or extended. */
		const struct inst *in = &o->v[rand_r(seed) % o->n];

		memcpy(name, in->name, in->len * sizeof(oid));
		len = in->len;
		if (k == 0)
			len -= rand_r(seed) % (len - ROOT_LEN - 1);
		else if (k == 1)
			name[len - 1] += rand_r(seed) % 3 == 0 ? -1 : 1;
		else if (k == 2)
			name[len++] = odd[rand_r(seed) % 7];
		return len;
	}
	len = column_oid(name, rand_r(seed) % 2 ? BBSNMP_TABLE_SERIES : BBSNMP_TABLE_BUCKETS,
			 rand_r(seed) % 10, 0);
	if (rand_r(seed) % 8 == 0)
		name[len - 2] = rand_r(seed) % 3; /* the entry: 0, 1 or 2 */
	for (unsigned i = rand_r(seed) % 6; i > 0; i--)
		name[len++] = rand_r(seed) % 2 ? odd[rand_r(seed) % 7] : rand_r(seed) % 45;
	if (rand_r(seed) % 10 == 0)
		len = ROOT_LEN + 2 + rand_r(seed) % 2; /* ROOT.1.T, ROOT.1.T.1 */
	if (rand_r(seed) % 20 == 0) {
		name[ROOT_LEN + 1] = 5; /* after the last table */
		len = ROOT_LEN + 2;
	}
	return len;
}

/* What a failed assertion leaves behind, for the teardown. */
static struct bbsnmp_tables *eq_tables;
static struct oracle eq_oracle;

static int teardown_equivalence(void **state)
{
	bbsnmp_tables_free(eq_tables);
	eq_tables = NULL;
	free(eq_oracle.v);
	memset(&eq_oracle, 0, sizeof(eq_oracle));
	bb_snapshot_unref(cur_snap);
	cur_snap = NULL;
	return 0;
}

/*
 * For random shapes, a GETNEXT walk, GETBULK walks and GETNEXT / GET from
 * OIDs in, between, before and after the instances and from cut-short OIDs
 * answer exactly what the materialized tables answered, in strict order.
 */
static void test_walk_equivalence(void **state)
{
	for (unsigned shape = 0; shape < 40; shape++) {
		unsigned seed = 7919 * (shape + 1);
		struct bbsnmp_tables *t = eq_tables = bbsnmp_tables_new();
		struct oracle o;

		assert_non_null(t);
		bb_snapshot_unref(cur_snap);
		cur_snap = random_snapshot(&seed);
		cur_n_programs = 0;
		assert_int_equal(bbsnmp_tables_register(t, root, ROOT_LEN, 600, test_load, NULL),
				 0);
		build_oracle(cur_snap, &o);
		eq_oracle = o;
		walk_virtual(&o, 0);
		walk_virtual(&o, 1);
		walk_virtual(&o, 10);
		walk_virtual(&o, 1 + seed % 60);
		for (int i = 0; i < 300; i++) {
			oid name[MAX_OID_LEN];
			size_t len = random_probe(&seed, &o, name);

			check_getnext(&o, name, len);
			check_get(&o, name, len);
		}
		teardown_equivalence(NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_map),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_mib_matches_code),
		cmocka_unit_test(test_rows_from_snapshot),
		cmocka_unit_test_setup_teardown(test_get_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_programs_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getnext_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getbulk_matches_getnext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getnext_entry_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_stability, setup, teardown),
		cmocka_unit_test(test_index_is_series_id),
		cmocka_unit_test_teardown(test_walk_equivalence, teardown_equivalence),
		cmocka_unit_test_setup_teardown(test_duplicate_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_text_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_period, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregister_and_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_registration_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_configured_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
