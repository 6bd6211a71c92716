/* SPDX-License-Identifier: MIT */
/*
 * core/confdir: when a file counts as complete. The object here is junk, so
 * every load attempt fails in bpf_object__open_mem (no BPF needed) and is
 * counted by bb_confdir_failures(): the count says exactly when a load was
 * attempted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "confdir.h"
#include "snapshot.h"

static const char yaml_text[] = "metrics:\n"
				"  counters:\n"
				"    - name: confdir_test_total\n"
				"      help: a test counter\n";

struct fixture {
	char dir[64];
	char yaml[128], obj[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_confdir.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->yaml, sizeof(f->yaml), "%s/t.yaml", f->dir);
	snprintf(f->obj, sizeof(f->obj), "%s/t.bpf.o", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->yaml);
	unlink(f->obj);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static struct bb_confdir *open_dir(const struct fixture *f, bool no_inotify)
{
	struct bb_confdir_conf conf = { .dir = f->dir, .autoload = true, .no_inotify = no_inotify };
	struct bb_options opts;
	struct bb_confdir *cd = NULL;
	char err[256];

	bb_options_init(&opts);
	opts.skip_owner_check = true;
	assert_int_equal(bb_confdir_new(&conf, &opts, &cd, err, sizeof(err)), 0);
	return cd;
}

/* With inotify: a file written and not yet closed is never loaded, however
 * long it stays unchanged; its close makes the pair loadable at once. */
static void test_inotify_waits_for_close(void **state)
{
	struct fixture *f = *state;
	struct bb_confdir *cd = open_dir(f, false);
	FILE *obj;

	assert_true(bb_confdir_fd(cd) >= 0);
	bb_confdir_poll(cd); /* empty */
	assert_int_equal(bb_confdir_n_entries(cd), 0);
	write_file(f->yaml, yaml_text);
	obj = fopen(f->obj, "w");
	assert_non_null(obj);
	fputs("\177ELF half", obj);
	fflush(obj);
	for (int i = 0; i < 3; i++) {
		bb_confdir_poll(cd); /* unchanged between polls, but still open for writing */
		assert_int_equal(bb_confdir_n_entries(cd), 1);
		assert_false(bb_confent_tried(bb_confdir_entry(cd, 0)));
		assert_int_equal(bb_confdir_failures(cd), 0);
	}
	fputs(" and the rest", obj);
	assert_int_equal(fclose(obj), 0);
	bb_confdir_poll(cd);
	assert_true(bb_confent_tried(bb_confdir_entry(cd, 0)));
	assert_int_equal(bb_confdir_failures(cd), 1);
	/* logged and counted once: unchanged files are not retried */
	bb_confdir_poll(cd);
	assert_int_equal(bb_confdir_failures(cd), 1);
	/* a removed half removes the config */
	unlink(f->obj);
	bb_confdir_poll(cd);
	assert_int_equal(bb_confdir_n_entries(cd), 0);
	bb_confdir_free(cd);
}

/* Without inotify: a changed file is loaded once it did not change between two polls. */
static void test_stat_scan_settles(void **state)
{
	struct fixture *f = *state;
	struct bb_confdir *cd = open_dir(f, true);

	assert_int_equal(bb_confdir_fd(cd), -1);
	bb_confdir_poll(cd);
	write_file(f->yaml, yaml_text);
	write_file(f->obj, "junk");
	bb_confdir_poll(cd); /* first seen: not yet */
	assert_int_equal(bb_confdir_n_entries(cd), 1);
	assert_int_equal(bb_confdir_failures(cd), 0);
	bb_confdir_poll(cd); /* unchanged since: loaded */
	assert_int_equal(bb_confdir_failures(cd), 1);
	write_file(f->obj, "junk, longer");
	bb_confdir_poll(cd);
	assert_int_equal(bb_confdir_failures(cd), 1);
	write_file(f->obj, "junk, longer still"); /* still being written */
	bb_confdir_poll(cd);
	assert_int_equal(bb_confdir_failures(cd), 1);
	bb_confdir_poll(cd);
	assert_int_equal(bb_confdir_failures(cd), 2);
	bb_confdir_free(cd);
}

/* Temporary names (dotfiles, NAME.yaml.tmp) are not configs. */
static void test_temporary_names_ignored(void **state)
{
	struct fixture *f = *state;
	struct bb_confdir *cd = open_dir(f, false);
	char tmp[160];

	bb_confdir_poll(cd);
	snprintf(tmp, sizeof(tmp), "%s/.t.yaml", f->dir);
	write_file(tmp, yaml_text);
	write_file(f->obj, "junk");
	bb_confdir_poll(cd);
	assert_int_equal(bb_confdir_n_entries(cd), 0);
	assert_int_equal(rename(tmp, f->yaml), 0); /* IN_MOVED_TO: complete */
	bb_confdir_poll(cd);
	assert_int_equal(bb_confdir_n_entries(cd), 1);
	assert_int_equal(bb_confdir_failures(cd), 1);
	bb_confdir_free(cd);
}

/* The reload self-metrics' series have ids (the SNMP tables serve a series by
 * its id and skip id 0), two per config, the same on every read. */
static void test_self_metric_ids(void **state)
{
	struct fixture *f = *state;
	struct bb_confdir *cd = open_dir(f, true);
	static const char *const names[] = { "bpfbridge_config_reload_failures_total",
					     "bpfbridge_config_last_reload_successful" };
	uint64_t ids[2][2];

	write_file(f->yaml, yaml_text);
	write_file(f->obj, "junk");
	bb_confdir_poll(cd);
	bb_confdir_poll(cd); /* loaded (and failed) */
	assert_int_equal(bb_confdir_n_entries(cd), 1);
	for (int r = 0; r < 2; r++) {
		struct bb_snapshot *snap = bb_snapshot_new();

		assert_non_null(snap);
		bb_confent_read(bb_confdir_entry(cd, 0), snap, NULL);
		bb_snapshot_finish(snap);
		for (int i = 0; i < 2; i++) {
			const struct bb_family *fam = bb_snapshot_find(snap, names[i]);

			assert_non_null(fam);
			assert_int_equal(fam->n_series, 1);
			ids[r][i] = fam->series[0].id;
			assert_true(ids[r][i] != 0);
		}
		bb_snapshot_unref(snap);
	}
	assert_true(ids[0][0] != ids[0][1]);
	assert_true(ids[0][0] == ids[1][0] && ids[0][1] == ids[1][1]);
	bb_confdir_free(cd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inotify_waits_for_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_scan_settles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_temporary_names_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_metric_ids, setup, teardown),
	};

	bb_log_set_level(BB_LOG_ERR); /* each attempt logs one error */
	return cmocka_run_group_tests_name("confdir", tests, NULL, NULL);
}
