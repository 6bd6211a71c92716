/* SPDX-License-Identifier: MIT */
/*
 * `bpfbridge watch`: a terminal view refreshed every interval. Counters show
 * what changed during the interval, histograms are drawn like bcc's
 * print_log2_hist (range, count, a bar of '*'). `t` toggles between the last
 * interval and totals since load, `q` quits, any other key refreshes now.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bpfbridge.h"
#include "cli.h"
#include "confdir.h"

#define BAR_WIDTH 40
#define MAX_ROWS 25 /* counter series shown per family */

static void watch_usage(FILE *f)
{
	fprintf(f,
		"usage: bpfbridge watch [--interval S] [--strict] [--btf FILE] [--config-dir DIR]\n"
		"                       [--ready-file FILE] [--max-series N] [--autoload] "
		"CONFIG...\n"
		"\n"
		"Load every CONFIG and redraw its metrics every S seconds (default 1):\n"
		"counters as changes per interval, histograms as bars like bcc's tools.\n"
		"Keys: t toggles interval/totals, q quits, any other key refreshes now.\n"
		"Ctrl-C also quits; everything is detached on the way out.\n"
		"A CONFIG whose files change is reloaded (the running one stays if the new one\n"
		"fails); one whose files go is closed. --autoload also loads every NAME.yaml\n"
		"with its NAME.bpf.o that appears in the config dir (CONFIG... then optional).\n");
}

struct view {
	FILE *out;
	const struct bb_snapshot *cur, *prev;
	double dt; /* seconds between prev and cur */
	bool totals;
};

static bool same_labels(const struct bb_family *fam, const struct bb_series *a,
			const struct bb_series *b)
{
	for (size_t l = 0; l < fam->n_labels; l++) {
		if (strcmp(a->label_values[l], b->label_values[l]))
			return false;
	}
	return true;
}

/* The previous read's version of series S (index HINT in its family), or NULL. */
static const struct bb_series *previous(const struct view *v, const struct bb_family *fam,
					const struct bb_series *s, size_t hint)
{
	const struct bb_family *pf;

	if (!v->prev || v->totals)
		return NULL;
	pf = bb_snapshot_find(v->prev, fam->name);
	if (!pf || pf->n_labels != fam->n_labels || pf->kind != fam->kind)
		return NULL;
	if (hint < pf->n_series && same_labels(fam, &pf->series[hint], s))
		return &pf->series[hint];
	for (size_t i = 0; i < pf->n_series; i++) {
		if (same_labels(fam, &pf->series[i], s))
			return &pf->series[i];
	}
	return NULL;
}

static uint64_t minus(uint64_t a, uint64_t b)
{
	return a >= b ? a - b : a; /* a reset (reload): count from zero */
}

static void print_labels(FILE *f, const struct bb_family *fam, const struct bb_series *s)
{
	for (size_t l = 0; l < fam->n_labels; l++)
		fprintf(f, "%s%s=%s", l ? " " : "", fam->label_names[l], s->label_values[l]);
	if (fam->n_labels == 0)
		fputs("(no labels)", f);
}

struct row {
	const struct bb_series *s;
	uint64_t shown;
};

static int cmp_row(const void *a, const void *b)
{
	const struct row *ra = a, *rb = b;

	return ra->shown < rb->shown ? 1 : ra->shown > rb->shown ? -1 : 0;
}

static void draw_counter(const struct view *v, const struct bb_family *fam)
{
	struct row *rows = calloc(fam->n_series ? fam->n_series : 1, sizeof(*rows));
	size_t n = 0, quiet = 0;

	fprintf(v->out, "\n%s%s\n", fam->name, v->totals ? "" : "  (change over the interval)");
	if (!rows) {
		fprintf(v->out, "  (out of memory)\n");
		return;
	}
	for (size_t i = 0; i < fam->n_series; i++) {
		const struct bb_series *s = &fam->series[i];
		const struct bb_series *p = previous(v, fam, s, i);
		uint64_t shown = v->totals ? s->value : minus(s->value, p ? p->value : 0);

		if (!shown) {
			quiet++;
			continue;
		}
		rows[n].s = s;
		rows[n].shown = shown;
		n++;
	}
	qsort(rows, n, sizeof(*rows), cmp_row);
	for (size_t i = 0; i < n && i < MAX_ROWS; i++) {
		fprintf(v->out, "  %14" PRIu64, rows[i].shown);
		if (!v->totals && v->dt > 0)
			fprintf(v->out, " %12.1f/s", (double)rows[i].shown / v->dt);
		fputs("  ", v->out);
		print_labels(v->out, fam, rows[i].s);
		fputc('\n', v->out);
	}
	if (n > MAX_ROWS)
		fprintf(v->out, "  ... %zu more series\n", n - MAX_ROWS);
	if (n == 0)
		fprintf(v->out, "  (nothing counted%s)\n", v->totals ? " yet" : " this interval");
	else if (quiet)
		fprintf(v->out, "  (%zu series unchanged)\n", quiet);
	free(rows);
}

/* Raw bounds read best in the program's unit, like bcc's usecs/nsecs columns. */
static const char *unit_of(double multiplier)
{
	if (fabs(multiplier - 1e-6) < 1e-12)
		return "usecs";
	if (fabs(multiplier - 1e-9) < 1e-15)
		return "nsecs";
	if (fabs(multiplier - 1e-3) < 1e-9)
		return "msecs";
	if (multiplier == 1.0 || multiplier == 0.0)
		return "value";
	return NULL;
}

static void draw_histogram_series(const struct view *v, const struct bb_family *fam,
				  const struct bb_series *s, const struct bb_series *p)
{
	size_t nb = fam->n_buckets;
	uint64_t *counts = calloc(nb + 1, sizeof(uint64_t)), max = 0, total, prev_cum = 0;
	const char *unit = unit_of(fam->multiplier);
	size_t first = SIZE_MAX, last = 0;
	double sum;
	char lo[32], hi[32];

	if (!counts) {
		fprintf(v->out, "  (out of memory)\n");
		return;
	}
	/* cumulative -> per bucket, over the interval unless showing totals */
	for (size_t i = 0; i <= nb; i++) {
		uint64_t cum = i < nb ? s->buckets[i] : s->count;
		uint64_t pcum = p ? (i < nb ? p->buckets[i] : p->count) : 0;
		uint64_t c = minus(cum, pcum);

		counts[i] = c >= prev_cum ? c - prev_cum : 0;
		prev_cum = c;
	}
	for (size_t i = 0; i <= nb; i++) {
		if (counts[i] > max)
			max = counts[i];
		if (counts[i]) {
			if (first == SIZE_MAX)
				first = i;
			last = i;
		}
	}
	total = minus(s->count, p ? p->count : 0);
	sum = s->sum - (p && p->sum <= s->sum ? p->sum : 0);

	fputs("\n", v->out);
	fprintf(v->out, "%s{", fam->name);
	print_labels(v->out, fam, s);
	fprintf(v->out, "}: %" PRIu64 " events", total);
	if (total)
		fprintf(v->out, ", average %g", sum / (double)total);
	fputc('\n', v->out);
	if (!total) {
		free(counts);
		return;
	}
	fprintf(v->out, "  %23s : %-10s distribution\n", unit ? unit : "le", "count");
	for (size_t i = first; i <= last; i++) {
		char bar[BAR_WIDTH + 1];
		size_t stars = max ? (size_t)((double)counts[i] * BAR_WIDTH / (double)max) : 0;

		if (unit) {
			snprintf(lo, sizeof(lo), "%" PRId64, i == 0 ? 0 : fam->le_raw[i - 1]);
			if (i < nb)
				snprintf(hi, sizeof(hi), "%" PRId64, fam->le_raw[i]);
		} else {
			snprintf(lo, sizeof(lo), "%g", i == 0 ? 0.0 : fam->le[i - 1]);
			if (i < nb)
				snprintf(hi, sizeof(hi), "%g", fam->le[i]);
		}
		if (i == nb)
			snprintf(hi, sizeof(hi), "+Inf");
		if (i == 0 && nb && fam->le_raw[0] == 0)
			snprintf(lo, sizeof(lo), "0");
		memset(bar, '*', stars);
		bar[stars] = '\0';
		fprintf(v->out, "  %10s -> %-10s : %-10" PRIu64 " |%-*s|\n", lo, hi, counts[i],
			BAR_WIDTH, bar);
	}
	free(counts);
}

static void draw_histogram(const struct view *v, const struct bb_family *fam)
{
	size_t quiet = 0;

	for (size_t i = 0; i < fam->n_series; i++) {
		const struct bb_series *s = &fam->series[i];
		const struct bb_series *p = previous(v, fam, s, i);

		if (minus(s->count, p ? p->count : 0) == 0) {
			quiet++;
			continue;
		}
		draw_histogram_series(v, fam, s, p);
	}
	if (fam->n_series == quiet)
		fprintf(v->out, "\n%s: (nothing recorded%s)\n", fam->name,
			v->totals ? " yet" : " this interval");
	else if (quiet)
		fprintf(v->out, "%s: %zu more series with nothing this interval\n", fam->name,
			quiet);
}

static uint64_t self_value(const struct bb_snapshot *snap, const char *family, const char *config)
{
	const struct bb_family *fam = bb_snapshot_find(snap, family);

	for (size_t i = 0; fam && i < fam->n_series; i++) {
		if (fam->n_labels && strcmp(fam->series[i].label_values[0], config) == 0)
			return fam->series[i].value;
	}
	return 0;
}

static uint64_t self_sum(const struct bb_snapshot *snap, const char *family, const char *config)
{
	const struct bb_family *fam = bb_snapshot_find(snap, family);
	uint64_t total = 0;

	for (size_t i = 0; fam && i < fam->n_series; i++) {
		if (fam->n_labels && strcmp(fam->series[i].label_values[0], config) == 0)
			total += fam->series[i].value;
	}
	return total;
}

static void draw(const struct view *v, const struct bb_cli_engines *e, double interval, bool tty)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;

	if (tty)
		fputs("\033[H\033[2J", v->out);
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(v->out, "bpfbridge watch  %s  every %gs  showing %s   [t] toggle  [q] quit\n", when,
		interval, v->totals ? "totals since load" : "the last interval");
	for (size_t i = 0; i < e->n; i++) {
		const char *name = bb_engine_name(e->engines[i]);
		size_t attached = 0, total = bb_engine_n_programs(e->engines[i]);
		uint64_t dropped, decode;

		for (size_t k = 0; k < total; k++)
			attached += bb_engine_program(e->engines[i], k)->state == BB_PROG_ATTACHED;
		fprintf(v->out, "  %s: %zu/%zu programs attached", name, attached, total);
		if (v->cur) {
			fprintf(v->out, ", %" PRIu64 " series, read in %" PRIu64 "us",
				self_value(v->cur, "bpfbridge_series", name),
				self_value(v->cur, "bpfbridge_read_duration_seconds", name));
			dropped = self_sum(v->cur, "bpfbridge_series_dropped_total", name);
			decode = self_sum(v->cur, "bpfbridge_decode_errors_total", name);
			if (dropped)
				fprintf(v->out, ", %" PRIu64 " series dropped (max_series)",
					dropped);
			if (decode)
				fprintf(v->out, ", %" PRIu64 " decode errors", decode);
		}
		fputc('\n', v->out);
	}
	if (!v->cur) {
		fprintf(v->out, "\nwaiting %gs for the first interval...\n", interval);
		return;
	}
	for (size_t i = 0; i < v->cur->n_families; i++) {
		const struct bb_family *fam = &v->cur->families[i];

		if (strncmp(fam->name, "bpfbridge_", 10) == 0)
			continue; /* summarised above */
		if (fam->kind == BB_METRIC_HISTOGRAM)
			draw_histogram(v, fam);
		else
			draw_counter(v, fam);
	}
}

/* Write a whole frame at once, so the terminal does not flicker. */
static int show(const struct view *tmpl, const struct bb_cli_engines *e, double interval, bool tty)
{
	struct view v = *tmpl;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);

	if (!mem)
		return -ENOMEM;
	v.out = mem;
	draw(&v, e, interval, tty);
	if (fclose(mem)) {
		free(buf);
		return -ENOMEM;
	}
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout)) {
		free(buf);
		return -EIO;
	}
	free(buf);
	return 0;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int watch_opt(int opt, const char *arg, void *ctx)
{
	struct bb_cli_common *c = ctx;

	(void)arg;
	if (opt != BB_OPT_AUTOLOAD)
		return 1;
	c->configs_optional = true; /* --autoload: the directory decides */
	return 0;
}

/* The engines the config directory has now (valid until the next poll). */
static int current_engines(struct bb_confdir *cd, struct bb_cli_engines *e)
{
	size_t n = bb_confdir_n_entries(cd);
	struct bb_engine **grown = realloc(e->engines, (n ? n : 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	e->engines = grown;
	e->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct bb_confent *ent = bb_confdir_entry(cd, i);
		struct bb_engine *eng = bb_confent_lock(ent, NULL);

		bb_confent_unlock(ent); /* only this thread polls */
		if (eng)
			e->engines[e->n++] = eng;
	}
	return 0;
}

static struct bb_snapshot *confdir_snapshot(struct bb_confdir *cd)
{
	struct bb_snapshot *snap = bb_snapshot_new();

	if (!snap)
		return NULL;
	for (size_t i = 0; i < bb_confdir_n_entries(cd); i++)
		/* failures are self-metrics */
		(void)bb_confent_read(bb_confdir_entry(cd, i), snap, NULL);
	bb_snapshot_finish(snap);
	return snap;
}

int bb_cli_watch(int argc, char **argv)
{
	static const struct option longopts[] = {
		BB_CLI_COMMON_LONGOPTS,
		{ "interval", required_argument, NULL, BB_OPT_INTERVAL },
		{ "ready-file", required_argument, NULL, BB_OPT_READY_FILE },
		{ "autoload", no_argument, NULL, BB_OPT_AUTOLOAD },
		{ NULL, 0, NULL, 0 },
	};
	struct bb_cli_common c;
	struct bb_cli_engines e;
	struct bb_confdir *cd = NULL;
	struct bb_confdir_conf conf = { 0 };
	char err[BB_ERRMSG_MAX];
	struct bb_snapshot *prev = NULL, *cur = NULL;
	struct termios saved, raw;
	bool tty_in, tty_out, totals = false;
	double last_t;
	int rc;

	rc = bb_cli_parse(argc, argv, longopts, &c, "watch", watch_usage, watch_opt, &c);
	if (rc >= 0)
		return rc;
	rc = 0;
	if (c.interval < 0.1) {
		fprintf(stderr, "bpfbridge watch: --interval: at least 0.1 seconds\n");
		return 2;
	}
	bb_cli_catch_signals();
	if (bb_cli_open_all(c.config_dir, &argv[optind], argc - optind, &c.opts, &e, "watch"))
		return bb_cli_stop ? 128 + bb_cli_stop : 1;
	/* From here the config directory owns the engines: changes are picked up
	 * as collectd and the SNMP module pick them up (core/confdir.h). */
	conf.dir = c.config_dir;
	conf.autoload = c.configs_optional;
	if (bb_confdir_new(&conf, &c.opts, &cd, err, sizeof(err)) < 0) {
		fprintf(stderr, "bpfbridge watch: %s\n", err);
		bb_cli_close_all(&e);
		return 1;
	}
	for (size_t i = 0; i < e.n; i++) {
		if (bb_confdir_adopt(cd, e.engines[i]) < 0) {
			fprintf(stderr, "bpfbridge watch: %s: listed twice or out of memory\n",
				bb_engine_name(e.engines[i]));
			bb_engine_close(e.engines[i]);
		}
	}
	e.n = 0;
	bb_confdir_poll(cd); /* --autoload: the directory's other configs */
	if (current_engines(cd, &e) < 0 || !bb_cli_signal_ready(&c, "watch")) {
		bb_confdir_free(cd);
		bb_cli_close_all(&e);
		return 1;
	}

	tty_out = isatty(STDOUT_FILENO);
	tty_in = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty_in) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* keys without Enter; ISIG stays */
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}

	last_t = mono();
	{
		struct view v = { .cur = NULL, .prev = NULL, .totals = totals };

		if (show(&v, &e, c.interval, tty_out))
			rc = 1;
	}
	while (!rc) {
		int key = -1;
		double t;

		if (!bb_cli_sleep(c.interval, tty_in ? STDIN_FILENO : -1, &key)) {
			if (bb_cli_stop || key == 'q' || key == 'Q')
				break;
			if (key == 't' || key == 'T')
				totals = !totals;
		}
		bb_confdir_poll(cd);
		cur = current_engines(cd, &e) == 0 ? confdir_snapshot(cd) : NULL;
		if (!cur) {
			fprintf(stderr, "bpfbridge watch: out of memory\n");
			rc = 1;
			break;
		}
		t = mono();
		{
			struct view v = {
				.cur = cur, .prev = prev, .dt = t - last_t, .totals = totals
			};

			if (show(&v, &e, c.interval, tty_out)) {
				fprintf(stderr,
					"bpfbridge watch: writing to the terminal failed: %s\n",
					strerror(errno));
				rc = 1;
			}
		}
		last_t = t;
		bb_snapshot_unref(prev);
		prev = cur;
		cur = NULL;
	}
	if (tty_in)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	bb_snapshot_unref(prev);
	e.n = 0; /* the engines are the config directory's */
	bb_cli_close_all(&e);
	bb_confdir_free(cd);
	if (!rc && bb_cli_stop)
		rc = 128 + bb_cli_stop;
	return rc;
}
