/* SPDX-License-Identifier: MIT */
/*
 * bpfbridge: the operator's tool. `check` loads and attaches configs and
 * shows what attached where; `dump` prints one snapshot; `watch` refreshes a
 * terminal view. See docs/cli.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpfbridge.h"
#include "cli.h"

volatile sig_atomic_t bb_cli_stop;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bpfbridge [-v] COMMAND [OPTIONS] CONFIG...\n"
		"\n"
		"Load ebpf_exporter-style configs (NAME.yaml next to NAME.bpf.o) and show\n"
		"what they measure.\n"
		"\n"
		"commands:\n"
		"  check   load and attach each CONFIG, print a table of its programs\n"
		"  dump    wait --interval seconds, then print one snapshot\n"
		"  watch   a live view, refreshed every --interval seconds (q quits)\n"
		"  relabel print Prometheus relabel rules for collectd's write_prometheus\n"
		"\n"
		"CONFIG is a NAME looked up in --config-dir (default %s),\n"
		"or a path to NAME.yaml.\n"
		"\n"
		"options:\n"
		"  -v, --verbose        debug logging (libbpf's too)\n"
		"  -h, --help           this help; `bpfbridge COMMAND --help` for a command's\n"
		"      --version        print the version\n"
		"\n"
		"exit status: 0 ok, 1 a config failed, 2 usage error, 128+N killed by signal N\n",
		BB_DEFAULT_CONFIG_DIR);
}

static void check_usage(FILE *f)
{
	fprintf(f, "usage: bpfbridge check [--strict] [--btf FILE] [--config-dir DIR] CONFIG...\n"
		   "\n"
		   "Load and attach each CONFIG, print one row per BPF program: the hook it\n"
		   "serves, the alternative, whether it attached and why not. Everything is\n"
		   "detached again before exiting.\n"
		   "\n"
		   "  --strict          a program or hook that cannot attach fails its config\n"
		   "  --btf FILE        external BTF for kernels without /sys/kernel/btf/vmlinux\n"
		   "  --config-dir DIR  where CONFIG names are looked up\n"
		   "  -v, --verbose     debug logging\n"
		   "\n"
		   "exit status: 0 every config loaded, 1 one did not, 2 usage error\n");
}

static void dump_usage(FILE *f)
{
	fprintf(f,
		"usage: bpfbridge dump [--interval S] [--count N] [--format prometheus|json]\n"
		"                      [--strict] [--btf FILE] [--config-dir DIR]\n"
		"                      [--ready-file FILE] [--max-series N] CONFIG...\n"
		"\n"
		"Load every CONFIG, wait S seconds (default 1) while the programs count,\n"
		"print one snapshot of all of them, detach and exit.\n"
		"\n"
		"  --interval S       seconds to wait before reading (0 reads at once)\n"
		"  --count N          read and print N snapshots, S seconds apart (default 1);\n"
		"                     from the second on, JSON series carry their interval\n"
		"  --format F         prometheus (text exposition, default) or json\n"
		"  --ready-file FILE  create FILE once every program is attached\n"
		"  --max-series N     series limit per metric without max_series (default %d)\n"
		"  --strict, --btf FILE, --config-dir DIR, -v: as for check\n",
		BB_DEFAULT_MAX_SERIES);
}

struct dump_opts {
	bool json;
	long count;
};

static int dump_format_opt(int opt, const char *arg, void *ctx)
{
	struct dump_opts *d = ctx;
	char *end;

	if (opt == BB_OPT_COUNT) {
		errno = 0;
		d->count = strtol(arg, &end, 10);
		if (errno || end == arg || *end || d->count < 1) {
			fprintf(stderr,
				"bpfbridge dump: --count: expected a positive integer, got "
				"\"%s\"\n",
				arg);
			return 2;
		}
		return 0;
	}
	if (opt != BB_OPT_FORMAT)
		return 1;
	if (strcmp(arg, "json") == 0 || strcmp(arg, "prometheus") == 0) {
		d->json = arg[0] == 'j';
		return 0;
	}
	fprintf(stderr, "bpfbridge dump: --format: expected prometheus or json, got \"%s\"\n", arg);
	return 2;
}

void bb_cli_common_init(struct bb_cli_common *c)
{
	memset(c, 0, sizeof(*c));
	bb_options_init(&c->opts);
	c->config_dir = BB_DEFAULT_CONFIG_DIR;
	c->interval = 1.0;
}

int bb_cli_common_opt(struct bb_cli_common *c, int opt, const char *arg, const char *cmd)
{
	switch (opt) {
	case BB_OPT_STRICT:
		c->opts.strict = true;
		return 0;
	case BB_OPT_BTF:
		c->opts.btf_path = arg;
		return 0;
	case BB_OPT_CONFIG_DIR:
		c->config_dir = arg;
		return 0;
	case BB_OPT_READY_FILE:
		c->ready_file = arg;
		return 0;
	case BB_OPT_LIBBPF_DEBUG:
		c->opts.libbpf_debug = true;
		return 0;
	case 'v':
		bb_log_set_level(BB_LOG_DEBUG);
		return 0;
	case BB_OPT_INTERVAL:
		if (!bb_cli_parse_interval(arg, &c->interval)) {
			fprintf(stderr,
				"bpfbridge %s: --interval: expected seconds >= 0 (e.g. 1 or 0.5), "
				"got \"%s\"\n",
				cmd, arg);
			return 2;
		}
		return 0;
	case BB_OPT_MAX_SERIES: {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || v == 0 || v > UINT32_MAX || arg[0] == '-') {
			fprintf(stderr,
				"bpfbridge %s: --max-series: expected a positive integer, got "
				"\"%s\"\n",
				cmd, arg);
			return 2;
		}
		c->opts.max_series_per_metric = (uint32_t)v;
		return 0;
	}
	default:
		return 1;
	}
}

bool bb_cli_parse_interval(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400 * 365)
		return false;
	*out = v;
	return true;
}

static void on_signal(int sig)
{
	bb_cli_stop = sig;
}

void bb_cli_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool bb_cli_sleep(double seconds, int key_fd, int *key)
{
	double deadline = now_s() + seconds;

	for (;;) {
		struct pollfd pfd = { .fd = key_fd, .events = POLLIN };
		double left = deadline - now_s();
		int ms, r;

		if (bb_cli_stop)
			return false;
		if (left <= 0)
			return true;
		ms = left > 1e6 ? 1000000000 : (int)ceil(left * 1000);
		r = poll(key_fd >= 0 ? &pfd : NULL, key_fd >= 0 ? 1 : 0, ms);
		if (r > 0 && key) {
			unsigned char c;

			if (read(key_fd, &c, 1) == 1) {
				*key = c;
				return false;
			}
			/* EOF or error on the key fd: stop watching it */
			key_fd = -1;
		}
	}
}

int bb_cli_open_all(const char *dir, char **args, int n_args, const struct bb_options *opts,
		    struct bb_cli_engines *out, const char *cmd)
{
	int failed = 0;

	out->n = 0;
	out->engines = calloc((size_t)n_args + 1, sizeof(*out->engines));
	if (!out->engines) {
		fprintf(stderr, "bpfbridge %s: out of memory\n", cmd);
		return -1;
	}
	for (int i = 0; i < n_args && !bb_cli_stop; i++) {
		char err[BB_ERRMSG_MAX] = "";
		char *path = NULL;
		size_t len = strlen(args[i]);
		int ret;

		if (!strchr(args[i], '/') && len > 5 && !strcmp(args[i] + len - 5, ".yaml") &&
		    access(args[i], F_OK) == 0)
			path = strdup(args[i]); /* NAME.yaml in the current directory */
		else
			path = bb_config_path(dir, args[i]);
		if (!path) {
			fprintf(stderr, "bpfbridge %s: %s: %s\n", cmd, args[i], strerror(errno));
			failed++;
			continue;
		}
		ret = bb_engine_open(path, opts, &out->engines[out->n], err, sizeof(err));
		if (ret) {
			fprintf(stderr, "bpfbridge %s: %s\n", cmd, err[0] ? err : strerror(-ret));
			failed++;
		} else {
			out->n++;
		}
		free(path);
	}
	if (failed || bb_cli_stop) {
		bb_cli_close_all(out);
		return -1;
	}
	return 0;
}

void bb_cli_close_all(struct bb_cli_engines *e)
{
	for (size_t i = 0; i < e->n; i++)
		bb_engine_close(e->engines[i]);
	free(e->engines);
	e->engines = NULL;
	e->n = 0;
}

int bb_cli_parse(int argc, char **argv, const struct option *longopts, struct bb_cli_common *c,
		 const char *cmd, void (*print_usage)(FILE *), bb_cli_extra_opt extra, void *ctx)
{
	int opt;

	bb_cli_common_init(c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		int r = 1;

		if (opt == 'h') {
			print_usage(stdout);
			return 0;
		}
		if (extra)
			r = extra(opt, optarg, ctx);
		if (r == 1)
			r = bb_cli_common_opt(c, opt, optarg, cmd);
		if (r == 1) {
			print_usage(stderr);
			return 2;
		}
		if (r)
			return r;
	}
	if (optind >= argc && !c->configs_optional) {
		fprintf(stderr, "bpfbridge %s: no CONFIG given\n", cmd);
		print_usage(stderr);
		return 2;
	}
	return -1;
}

bool bb_cli_signal_ready(const struct bb_cli_common *c, const char *cmd)
{
	int fd;

	if (!c->ready_file)
		return true;
	fd = open(c->ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "bpfbridge %s: --ready-file %s: %s\n", cmd, c->ready_file,
			strerror(errno));
		return false;
	}
	if (dprintf(fd, "%ld\n", (long)getpid()) < 0 || close(fd)) {
		fprintf(stderr, "bpfbridge %s: --ready-file %s: %s\n", cmd, c->ready_file,
			strerror(errno));
		return false;
	}
	return true;
}

static int width(int cur, const char *s)
{
	int n = (int)strlen(s);

	return n > cur ? n : cur;
}

/* One row per program of every engine, columns sized to fit. */
static void print_programs(struct bb_engine *const *engines, size_t n, FILE *f)
{
	int wc = 6, wp = 7, wh = 4, ws = 7, wst = 8;

	for (size_t e = 0; e < n; e++) {
		wc = width(wc, bb_engine_name(engines[e]));
		for (size_t i = 0; i < bb_engine_n_programs(engines[e]); i++) {
			const struct bb_program_status *st = bb_engine_program(engines[e], i);

			wp = width(wp, st->name);
			wh = width(wh, st->hook);
			ws = width(ws, st->section);
		}
	}
	fprintf(f, "%-*s  %-*s  %-*s  %-3s  %-*s  %-*s  %s\n", wc, "CONFIG", wp, "PROGRAM", wh,
		"HOOK", "ALT", ws, "SECTION", wst, "STATUS", "REASON");
	for (size_t e = 0; e < n; e++) {
		for (size_t i = 0; i < bb_engine_n_programs(engines[e]); i++) {
			const struct bb_program_status *st = bb_engine_program(engines[e], i);
			char alt[16];

			if (st->alternative >= 0)
				snprintf(alt, sizeof(alt), "%d", st->alternative);
			else
				snprintf(alt, sizeof(alt), "-");
			fprintf(f, "%-*s  %-*s  %-*s  %-3s  %-*s  %-*s  %s\n", wc,
				bb_engine_name(engines[e]), wp, st->name, wh, st->hook, alt, ws,
				st->section, wst, bb_program_state_name(st->state),
				st->reason ? st->reason : "");
		}
	}
}

/* Per config: which hooks have nothing attached (not an error unless --strict). */
static void print_hook_summary(struct bb_engine *const *engines, size_t n, FILE *f)
{
	for (size_t e = 0; e < n; e++) {
		const struct bb_config *cfg = bb_engine_config(engines[e]);
		size_t attached = 0, total = bb_engine_n_programs(engines[e]);

		for (size_t i = 0; i < total; i++)
			attached += bb_engine_program(engines[e], i)->state == BB_PROG_ATTACHED;
		fprintf(f, "%s: %zu of %zu programs attached", bb_engine_name(engines[e]), attached,
			total);
		for (size_t h = 0; h < cfg->n_hooks; h++) {
			bool any = false;

			for (size_t i = 0; i < total; i++) {
				const struct bb_program_status *st =
					bb_engine_program(engines[e], i);

				if (st->state == BB_PROG_ATTACHED &&
				    strcmp(st->hook, cfg->hooks[h].name) == 0)
					any = true;
			}
			if (!any)
				fprintf(f, "; hook %s: no alternative attached",
					cfg->hooks[h].name);
		}
		fputc('\n', f);
	}
}

static int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = { BB_CLI_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct bb_cli_common c;
	struct bb_engine **ok;
	size_t n_ok = 0;
	int rc;

	rc = bb_cli_parse(argc, argv, longopts, &c, "check", check_usage, NULL, NULL);
	if (rc >= 0)
		return rc;
	rc = 0;
	/* The table says what did not attach; the same warnings on stderr are noise.
	 * --libbpf-debug asks for libbpf's messages, which come at info level. */
	if (bb_log_get_level() < BB_LOG_DEBUG)
		bb_log_set_level(c.opts.libbpf_debug ? BB_LOG_INFO : BB_LOG_ERR);
	bb_cli_catch_signals();
	ok = calloc((size_t)(argc - optind), sizeof(*ok));
	if (!ok) {
		fprintf(stderr, "bpfbridge check: out of memory\n");
		return 1;
	}
	/* Each config on its own, so one bad config does not hide the others' status. */
	for (int i = optind; i < argc && !bb_cli_stop; i++) {
		struct bb_cli_engines one;

		if (bb_cli_open_all(c.config_dir, &argv[i], 1, &c.opts, &one, "check")) {
			rc = 1;
			continue;
		}
		ok[n_ok++] = one.engines[0];
		free(one.engines);
	}
	if (n_ok) {
		print_programs(ok, n_ok, stdout);
		print_hook_summary(ok, n_ok, stdout);
	}
	for (size_t i = 0; i < n_ok; i++)
		bb_engine_close(ok[i]);
	free(ok);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "bpfbridge check: writing the table failed: %s\n", strerror(errno));
		return 1;
	}
	if (bb_cli_stop)
		return 128 + bb_cli_stop;
	return rc;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		BB_CLI_COMMON_LONGOPTS,
		{ "interval", required_argument, NULL, BB_OPT_INTERVAL },
		{ "format", required_argument, NULL, BB_OPT_FORMAT },
		{ "ready-file", required_argument, NULL, BB_OPT_READY_FILE },
		{ "count", required_argument, NULL, BB_OPT_COUNT },
		{ NULL, 0, NULL, 0 },
	};
	struct bb_cli_common c;
	struct bb_cli_engines e;
	struct bb_snapshot *snap;
	struct dump_opts d = { .json = false, .count = 1 };
	int ret = 0;

	ret = bb_cli_parse(argc, argv, longopts, &c, "dump", dump_usage, dump_format_opt, &d);
	if (ret >= 0)
		return ret;
	bb_cli_catch_signals();
	if (bb_cli_open_all(c.config_dir, &argv[optind], argc - optind, &c.opts, &e, "dump"))
		return bb_cli_stop ? 128 + bb_cli_stop : 1;
	if (!bb_cli_signal_ready(&c, "dump")) {
		bb_cli_close_all(&e);
		return 1;
	}
	ret = 0;
	for (long i = 0; i < d.count && ret == 0; i++) {
		if (!bb_cli_sleep(c.interval, -1, NULL)) {
			bb_cli_close_all(&e);
			return 128 + bb_cli_stop;
		}
		snap = bb_engines_snapshot(e.engines, e.n);
		if (!snap) {
			bb_cli_close_all(&e);
			fprintf(stderr, "bpfbridge dump: out of memory\n");
			return 1;
		}
		if (d.count > 1 && !d.json)
			printf("# snapshot %ld of %ld\n", i + 1, d.count);
		ret = d.json ? bb_snapshot_write_json(snap, stdout)
			     : bb_snapshot_write_prometheus(snap, stdout);
		bb_snapshot_unref(snap);
		if (!ret && (fflush(stdout) || ferror(stdout)))
			ret = -EIO;
	}
	bb_cli_close_all(&e);
	if (ret) {
		fprintf(stderr, "bpfbridge dump: writing the snapshot failed: %s\n",
			strerror(ret < 0 ? -ret
				 : errno ? errno
					 : EIO));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd;
	int opt;

	bb_log_set_level(BB_LOG_INFO);
	/* "+": stop at the command; its options are its own */
	while ((opt = getopt_long(argc, argv, "+hv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("bpfbridge %s\n", BB_VERSION);
			return 0;
		case 'v':
			bb_log_set_level(BB_LOG_DEBUG);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc, argv);
	if (strcmp(cmd, "dump") == 0)
		return cmd_dump(argc, argv);
	if (strcmp(cmd, "watch") == 0)
		return bb_cli_watch(argc, argv);
	if (strcmp(cmd, "relabel") == 0)
		return bb_cli_relabel(argc, argv);
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "bpfbridge: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
