/* SPDX-License-Identifier: MIT */
/*
 * `bpfbridge relabel`: print the Prometheus metric_relabel_configs that turn
 * collectd write_prometheus series of the ebpf plugin back into the metrics
 * the configs define (docs/prometheus.md).
 *
 * What collectd 5.12's write_prometheus makes of an ebpf value (checked
 * against the real daemon):
 *   name   collectd_ebpf_<type>, plus "_total" for DERIVE (the plugin part is
 *          left out when type == "ebpf"; the data source is "value", which
 *          adds nothing);
 *   labels ebpf="<plugin_instance = config name>",
 *          type="<type_instance = k=v,k=v...>" (absent when empty),
 *          instance="<collectd host>".
 * The rules, in order:
 *   1. copy type and ebpf into temporary labels, delete them;
 *   2. rename: exact rules per config metric, generic ones for the
 *      self-metrics (bpfbridge_*: counters end in _total, gauges do not);
 *      a histogram's interval gauges (NAME_percentile, NAME_average,
 *      NAME_observations) keep their names without the collectd_ebpf_
 *      prefix: they are gauges, and the percentile is a label;
 *   3. split the type_instance into one label per "k=v" pair;
 *   4. a truncated type_instance (ends in ~HASH) stays whole in
 *      collectd_type_instance, so no series is lost or merged;
 *   5. drop the temporaries.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfbridge.h"
#include "cli.h"

/* The self-metrics have at most 4 labels; rules for fewer pairs than this
 * would silently leave some unsplit. */
#define RELABEL_MIN_PAIRS 8
#define TMP_LABELS "__tmp_bb_labels"
#define TMP_CONFIG "__tmp_bb_config"

struct relabel_out {
	FILE *f;
	const char *ind; /* indentation of the list items */
};

static void relabel_usage(FILE *f)
{
	fprintf(f,
		"usage: bpfbridge relabel [--config-dir DIR] [--prefix X] [--indent N] CONFIG...\n"
		"\n"
		"Print the Prometheus metric_relabel_configs that turn the series collectd's\n"
		"write_prometheus exports for the ebpf plugin back into the metrics of each\n"
		"CONFIG (NAME, NAME.yaml or a path): counters by their own name, histograms as\n"
		"NAME_bucket{...,le}, NAME_sum and NAME_count. Paste the output into the\n"
		"scrape job of that collectd (see docs/prometheus.md).\n"
		"\n"
		"  --config-dir DIR  where NAME.yaml files live (default %s)\n"
		"  --prefix X        prepend X to every restored metric name\n"
		"  --indent N        indent every line by N spaces (default 0)\n",
		BB_DEFAULT_CONFIG_DIR);
}

/* A YAML single-quoted scalar: only ' needs escaping (as ''). */
static void relabel_quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

/* S with RE2 metacharacters escaped, into BUF. */
static const char *relabel_regex_quote(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (strchr("\\.+*?()|[]{}^$", *s))
			buf[o++] = '\\';
		buf[o++] = *s;
	}
	buf[o] = '\0';
	return buf;
}

/* The name write_prometheus 5.12 gives a value of collectd type
 * FAMILY+SUFFIX whose data source is DS (the plugin's types: "value", or
 * "scaled" for a histogram's _sum; see docs/collectd.md). */
static void relabel_wp_name(char *buf, size_t len, const char *family, const char *suffix,
			    const char *ds, bool derive)
{
	bool plain_ds = strcmp(ds, "value") == 0;
	bool type_is_plugin = strcmp(family, "ebpf") == 0 && *suffix == '\0';

	snprintf(buf, len, "collectd_%s%s%s%s%s%s", type_is_plugin ? "" : "ebpf_", family, suffix,
		 plain_ds ? "" : "_", plain_ds ? "" : ds, derive ? "_total" : "");
}

static void relabel_replace(const struct relabel_out *o, const char *comment,
			    const char *const *sources, size_t n_sources, const char *regex,
			    const char *target, const char *replacement)
{
	if (comment)
		fprintf(o->f, "%s# %s\n", o->ind, comment);
	fprintf(o->f, "%s- source_labels: [", o->ind);
	for (size_t i = 0; i < n_sources; i++)
		fprintf(o->f, "%s%s", i ? ", " : "", sources[i]);
	fprintf(o->f, "]\n%s  regex: ", o->ind);
	relabel_quoted(o->f, regex);
	fprintf(o->f, "\n%s  target_label: ", o->ind);
	relabel_quoted(o->f, target);
	fprintf(o->f, "\n%s  replacement: ", o->ind);
	relabel_quoted(o->f, replacement);
	fputc('\n', o->f);
}

static void relabel_rename(const struct relabel_out *o, const char *config_re, const char *from,
			   const char *to, const char *prefix)
{
	static const char *const src[] = { TMP_CONFIG, "__name__" };
	char regex[PATH_MAX * 2], repl[PATH_MAX];

	snprintf(regex, sizeof(regex), "%s;%s", config_re, from);
	snprintf(repl, sizeof(repl), "%s%s", prefix, to);
	relabel_replace(o, NULL, src, 2, regex, "__name__", repl);
}

static void relabel_config_names(const struct relabel_out *o, const struct bb_config *cfg,
				 const char *prefix)
{
	char cre[PATH_MAX], from[PATH_MAX], to[PATH_MAX];

	relabel_regex_quote(cfg->name, cre, sizeof(cre));
	fprintf(o->f, "%s# config %s (%s)\n", o->ind, cfg->name, cfg->yaml_path);
	for (size_t i = 0; i < cfg->n_metrics; i++) {
		const struct bb_metric_conf *m = cfg->metrics + i;

		if (m->kind == BB_METRIC_HISTOGRAM) {
			static const char *const derived[] = { "_bucket", "_count" };

			for (size_t k = 0; k < 2; k++) {
				relabel_wp_name(from, sizeof(from), m->name, derived[k], "value",
						true);
				snprintf(to, sizeof(to), "%s%s", m->name, derived[k]);
				relabel_rename(o, cre, from, to, prefix);
			}
			/* _sum: GAUGE "scaled", already multiplied by bucket_multiplier */
			relabel_wp_name(from, sizeof(from), m->name, "_sum", "scaled", false);
			snprintf(to, sizeof(to), "%s_sum", m->name);
			relabel_rename(o, cre, from, to, prefix);
			/* the last interval's percentiles, mean and count: plain gauges
			 * (Histograms "percentiles" or "both") */
			static const char *const interval[] = { "_percentile", "_average",
								"_observations" };

			for (size_t k = 0; k < 3; k++) {
				relabel_wp_name(from, sizeof(from), m->name, interval[k], "value",
						false);
				snprintf(to, sizeof(to), "%s%s", m->name, interval[k]);
				relabel_rename(o, cre, from, to, prefix);
			}
		} else {
			relabel_wp_name(from, sizeof(from), m->name, "", "value",
					m->kind == BB_METRIC_COUNTER);
			relabel_rename(o, cre, from, m->name, prefix);
		}
	}
}

static size_t relabel_max_pairs(struct bb_config *const *cfgs, size_t n)
{
	size_t max = RELABEL_MIN_PAIRS;

	for (size_t c = 0; c < n; c++) {
		for (size_t i = 0; i < cfgs[c]->n_metrics; i++) {
			const struct bb_metric_conf *m = cfgs[c]->metrics + i;
			/* a histogram's last label is the bucket; le or percentile
			 * takes its place */
			size_t pairs = m->n_labels;

			if (pairs > max)
				max = pairs;
		}
	}
	return max;
}

static void relabel_print(FILE *f, const char *ind, struct bb_config *const *cfgs, size_t n,
			  const char *prefix)
{
	struct relabel_out o = { f, NULL };
	char item_ind[256], regex[256], repl[PATH_MAX];
	size_t pairs = relabel_max_pairs(cfgs, n);
	static const char *const name_type[] = { "__name__", "type" };
	static const char *const name_ebpf[] = { "__name__", "ebpf" };
	static const char *const tmp_config[] = { TMP_CONFIG };
	static const char *const tmp_labels[] = { TMP_LABELS };
	static const char *const self_src[] = { TMP_CONFIG, "__name__" };

	snprintf(item_ind, sizeof(item_ind), "%s  ", ind);
	o.ind = item_ind;

	fprintf(f,
		"%s# Generated by bpfbridge relabel for collectd 5.12 write_prometheus, configs:",
		ind);
	for (size_t i = 0; i < n; i++)
		fprintf(f, " %s", cfgs[i]->name);
	fprintf(f, "\n%smetric_relabel_configs:\n", ind);

	relabel_replace(&o, "ebpf plugin series: keep type_instance and plugin_instance aside",
			name_type, 2, "collectd_ebpf_.+;(.*)", TMP_LABELS, "$1");
	relabel_replace(&o, NULL, name_ebpf, 2, "collectd_ebpf_.+;(.*)", TMP_CONFIG, "$1");
	relabel_replace(&o, NULL, tmp_config, 1, ".+", "type", "");
	relabel_replace(&o, NULL, tmp_config, 1, ".+", "ebpf", "");

	for (size_t i = 0; i < n; i++)
		relabel_config_names(&o, cfgs[i], prefix);

	snprintf(repl, sizeof(repl), "%s${1}", prefix);
	relabel_replace(&o, "self-metrics of every config", self_src, 2,
			".+;collectd_ebpf_(bpfbridge_.+_total)_total", "__name__", repl);
	relabel_replace(&o, NULL, self_src, 2, ".+;collectd_ebpf_(bpfbridge_.+)", "__name__", repl);

	for (size_t k = 0; k < pairs; k++) {
		snprintf(regex, sizeof(regex), "(?:[^,]*,){%zu}([^=,~]+)=([^,~]*)(?:,.*)?", k);
		relabel_replace(
			&o, k == 0 ? "labels: one rule per k=v pair of the type_instance" : NULL,
			tmp_labels, 1, regex, "${1}", "${2}");
	}
	relabel_replace(&o, "a type_instance cut to 127 bytes (~HASH): labels stay in one label",
			tmp_labels, 1, "(.*~[0-9a-f]{16})", "collectd_type_instance", "${1}");
	fprintf(f, "%s- regex: '__tmp_bb_.*'\n%s  action: labeldrop\n", item_ind, item_ind);
}

int bb_cli_relabel(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config-dir", required_argument, NULL, 'd' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "indent", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = BB_DEFAULT_CONFIG_DIR, *prefix = "";
	char ind[129] = "";
	struct bb_config **cfgs = NULL;
	size_t n = 0;
	int opt, rc = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:p:i:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'p':
			prefix = optarg;
			for (const char *c = prefix; *c; c++) {
				if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:"
					    "0123456789",
					    *c) ||
				    (c == prefix && *c >= '0' && *c <= '9')) {
					fprintf(stderr,
						"bpfbridge relabel: --prefix: expected a "
						"metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*), "
						"got \"%s\"\n",
						prefix);
					return 2;
				}
			}
			break;
		case 'i': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || v < 0 || v >= (long)sizeof(ind)) {
				fprintf(stderr,
					"bpfbridge relabel: --indent: expected 0..%zu, got "
					"\"%s\"\n",
					sizeof(ind) - 1, optarg);
				return 2;
			}
			memset(ind, ' ', (size_t)v);
			ind[v] = '\0';
			break;
		}
		case 'h':
			relabel_usage(stdout);
			return 0;
		default:
			relabel_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "bpfbridge relabel: no CONFIG given\n");
		relabel_usage(stderr);
		return 2;
	}

	cfgs = calloc((size_t)(argc - optind), sizeof(*cfgs));
	if (!cfgs) {
		fprintf(stderr, "bpfbridge relabel: out of memory\n");
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		char err[BB_ERRMSG_MAX] = "";
		char *path = bb_config_path(dir, argv[i]);
		int lrc;

		if (!path) {
			fprintf(stderr, "bpfbridge relabel: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
			continue;
		}
		lrc = bb_config_load(path, &cfgs[n], err, sizeof(err));
		if (lrc < 0) {
			fprintf(stderr, "bpfbridge relabel: %s\n", err[0] ? err : strerror(-lrc));
			rc = 1;
		} else {
			for (size_t j = 0; j < n; j++) {
				if (strcmp(cfgs[j]->name, cfgs[n]->name) == 0) {
					fprintf(stderr,
						"bpfbridge relabel: %s: config %s given twice\n",
						path, cfgs[n]->name);
					rc = 1;
				}
			}
			n++;
		}
		free(path);
	}
	if (rc == 0) {
		relabel_print(stdout, ind, cfgs, n, prefix);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "bpfbridge relabel: writing the rules failed: %s\n",
				strerror(errno));
			rc = 1;
		}
	}
	for (size_t i = 0; i < n; i++)
		bb_config_free(cfgs[i]);
	free(cfgs);
	return rc;
}
