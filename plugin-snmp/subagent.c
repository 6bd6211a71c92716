/* SPDX-License-Identifier: MIT */
/*
 * bpfbridge-snmp: the same tables as the dlmod, served by a standalone AgentX
 * subagent. snmpd stays unprivileged; this process needs the BPF privileges.
 *
 * One thread: agent_check_and_process(1) sleeps in select() on net-snmp's
 * fds and timers; signals arrive through a self-pipe registered as one more
 * fd, so SIGTERM ends the loop without a race and without polling.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bbsnmp.h"

#define APP_NAME "bpfbridge-snmp"
#define DEFAULT_PING_INTERVAL 5

static int signal_pipe[2] = { -1, -1 };
static volatile sig_atomic_t stop_requested;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " APP_NAME " [OPTIONS]\n"
		"Serve bpfbridge's eBPF metrics (BPFBRIDGE-MIB) to snmpd as an AgentX subagent.\n"
		"\n"
		"  -c FILE              read FILE as the only config file (bpfbridge* tokens and\n"
		"                       net-snmp agent tokens such as agentXSocket); default:\n"
		"                       " APP_NAME ".conf in net-snmp's config path\n"
		"  -x SOCKET            AgentX master socket (default: net-snmp's, usually\n"
		"                       /var/agentx/master; tcp:HOST:PORT also works)\n"
		"  -f                   stay in the foreground (default: become a daemon)\n"
		"  -p FILE              write the process id to FILE\n"
		"  -L OPTS              logging, as snmpd's -L: -Le stderr, -Lf FILE, -Ls daemon\n"
		"                       (default: stderr with -f, syslog otherwise)\n"
		"  -D TOKENS            net-snmp debug output for TOKENS (e.g. bpfbridge)\n"
		"      --config-dir DIR directory holding NAME.yaml and NAME.bpf.o\n"
		"      --config NAME    load config NAME (repeatable, or NAME,NAME)\n"
		"      --autoload       load every NAME.yaml + NAME.bpf.o of the config dir, and\n"
		"                       follow it: configs added, changed, removed at run time\n"
		"      --cache-timeout S  seconds a snapshot serves requests (default %d; 0 = "
		"every\n"
		"                       request reads the maps)\n"
		"      --interval S     seconds between reads, done off the agent's thread, and\n"
		"                       the interval of the percentile columns (default: the\n"
		"                       cache timeout)\n"
		"      --root-oid OID   serve the tables under OID instead of BPFBRIDGE-MIB's\n"
		"      --strict         a program that fails to attach fails its whole config\n"
		"      --max-series N   per-metric series limit when a config sets none\n"
		"      --btf PATH       external BTF for kernels without /sys/kernel/btf/vmlinux\n"
		"      --ping-interval S  seconds between AgentX pings; also how often a lost\n"
		"                       master is retried (default %d)\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version\n"
		"\n"
		"Options given here override the config file's bpfbridge* tokens; --config adds\n"
		"to the configs it lists. SIGTERM or SIGINT stops the subagent (every program\n"
		"detached); SIGHUP reopens log files.\n",
		BBSNMP_DEFAULT_CACHE_TIMEOUT, DEFAULT_PING_INTERVAL);
}

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig != SIGHUP)
		stop_requested = 1;
	if (signal_pipe[1] >= 0 && write(signal_pipe[1], &c, 1) < 0) {
		/* Pipe full: a wake-up is already pending. */
	}
	errno = saved;
}

static void on_signal_fd(int fd, void *ctx)
{
	char buf[64];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == SIGHUP) {
				snmp_log(LOG_INFO, APP_NAME ": SIGHUP: reopening log files\n");
				netsnmp_logging_restart();
			}
		}
	}
}

static int setup_signals(void)
{
	struct sigaction sa;

	if (pipe(signal_pipe) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		fcntl(signal_pipe[i], F_SETFL, fcntl(signal_pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(signal_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A master that goes away mid-write must not kill us: we reconnect. */
	signal(SIGPIPE, SIG_IGN);
	return register_readfd(signal_pipe[0], on_signal_fd, NULL) == FD_REGISTERED_OK ? 0 : -EBUSY;
}

static void close_signals(void)
{
	if (signal_pipe[0] >= 0)
		unregister_readfd(signal_pipe[0]);
	for (int i = 0; i < 2; i++) {
		if (signal_pipe[i] >= 0)
			close(signal_pipe[i]);
		signal_pipe[i] = -1;
	}
}

enum {
	OPT_CONFIG_DIR = 256,
	OPT_CONFIG,
	OPT_CACHE_TIMEOUT,
	OPT_ROOT_OID,
	OPT_STRICT,
	OPT_MAX_SERIES,
	OPT_BTF,
	OPT_PING_INTERVAL,
	OPT_INTERVAL,
	OPT_AUTOLOAD,
};

/* Options that override the config file are kept until it has been read. */
struct override {
	int opt;
	const char *value;
};

static const char *apply_override(struct bbsnmp_settings *s, const struct override *o)
{
	switch (o->opt) {
	case OPT_CONFIG_DIR:
		return bbsnmp_set_config_dir(s, o->value);
	case OPT_CONFIG:
		return bbsnmp_add_configs(s, o->value);
	case OPT_CACHE_TIMEOUT:
		return bbsnmp_set_cache_timeout(s, o->value);
	case OPT_INTERVAL:
		return bbsnmp_set_interval(s, o->value);
	case OPT_ROOT_OID:
		return bbsnmp_set_root_oid(s, o->value);
	case OPT_STRICT:
		return bbsnmp_set_strict(s, "yes");
	case OPT_AUTOLOAD:
		return bbsnmp_set_autoload(s, "yes");
	case OPT_MAX_SERIES:
		return bbsnmp_set_max_series(s, o->value);
	case OPT_BTF:
		return bbsnmp_set_btf(s, o->value);
	}
	return NULL;
}

static const char *option_name(int opt)
{
	switch (opt) {
	case OPT_CONFIG_DIR:
		return "--config-dir";
	case OPT_CONFIG:
		return "--config";
	case OPT_CACHE_TIMEOUT:
		return "--cache-timeout";
	case OPT_INTERVAL:
		return "--interval";
	case OPT_ROOT_OID:
		return "--root-oid";
	case OPT_MAX_SERIES:
		return "--max-series";
	case OPT_BTF:
		return "--btf";
	}
	return "option";
}

/* PATH made absolute against the current directory: a daemon runs in "/". */
static char *absolute(const char *path)
{
	char cwd[4096];
	char *out;

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		snmp_log(LOG_ERR, APP_NAME ": cannot write %s: %s\n", path, bb_strerror(errno));
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "autoload", no_argument, NULL, OPT_AUTOLOAD },
		{ "cache-timeout", required_argument, NULL, OPT_CACHE_TIMEOUT },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "root-oid", required_argument, NULL, OPT_ROOT_OID },
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ "max-series", required_argument, NULL, OPT_MAX_SERIES },
		{ "btf", required_argument, NULL, OPT_BTF },
		{ "ping-interval", required_argument, NULL, OPT_PING_INTERVAL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct override *overrides = calloc(argc, sizeof(*overrides));
	char **owned = calloc(argc, sizeof(*owned)); /* absolute paths made from argv */
	size_t n_overrides = 0, n_owned = 0;
	struct bbsnmp_settings settings;
	struct bbsnmp_settings check;
	struct bbsnmp_agent *agent = NULL;
	const char *config_file = NULL, *agentx_socket = NULL, *pidfile = NULL;
	bool foreground = false, log_chosen = false;
	int ping_interval = DEFAULT_PING_INTERVAL;
	int opt, status = EXIT_FAILURE;

	if (!overrides || !owned) {
		fprintf(stderr, APP_NAME ": out of memory\n");
		return EXIT_FAILURE;
	}
	/* Validate the overrides now, so a typo fails before anything starts. */
	bbsnmp_settings_init(&check);
	while ((opt = getopt_long(argc, argv, "c:x:fp:L:D:hV", long_opts, NULL)) != -1) {
		const char *err;

		switch (opt) {
		case 'c':
			config_file = owned[n_owned++] = absolute(optarg);
			if (!config_file)
				goto oom;
			break;
		case 'x':
			agentx_socket = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'p':
			pidfile = owned[n_owned++] = absolute(optarg);
			if (!pidfile)
				goto oom;
			break;
		case 'L':
			if (snmp_log_options(optarg, argc, argv) < 0) {
				fprintf(stderr, APP_NAME ": -L%s: unknown logging option\n",
					optarg);
				goto out;
			}
			log_chosen = true;
			break;
		case 'D':
			debug_register_tokens(optarg);
			snmp_set_do_debugging(1);
			break;
		case OPT_PING_INTERVAL: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (end == optarg || *end || v < 1 || v > 3600) {
				fprintf(stderr,
					APP_NAME ": --ping-interval: expected seconds from 1 to "
						 "3600, got \"%s\"\n",
					optarg);
				goto out;
			}
			ping_interval = (int)v;
			break;
		}
		case 'h':
			usage(stdout);
			status = EXIT_SUCCESS;
			goto out;
		case 'V':
			printf(APP_NAME " %s (net-snmp %s)\n", BBSNMP_VERSION,
			       netsnmp_get_version());
			status = EXIT_SUCCESS;
			goto out;
		case '?':
			usage(stderr);
			goto out;
		default:
			overrides[n_overrides].opt = opt;
			overrides[n_overrides].value = optarg;
			if (opt == OPT_CONFIG_DIR || opt == OPT_BTF) {
				overrides[n_overrides].value = owned[n_owned++] = absolute(optarg);
				if (!overrides[n_overrides].value)
					goto oom;
			}
			err = apply_override(&check, &overrides[n_overrides]);
			if (err) {
				fprintf(stderr, APP_NAME ": %s: %s, got \"%s\"\n", option_name(opt),
					err, optarg ? optarg : "");
				goto out;
			}
			n_overrides++;
			break;
		}
	}
	if (0) {
	oom:
		fprintf(stderr, APP_NAME ": out of memory\n");
		goto out;
	}
	if (optind < argc) {
		fprintf(stderr, APP_NAME ": unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		goto out;
	}
	if (config_file) {
		struct stat st;

		if (stat(config_file, &st) < 0) {
			fprintf(stderr, APP_NAME ": -c %s: %s\n", config_file, bb_strerror(errno));
			goto out;
		}
		netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_OPTIONALCONFIG,
				      config_file);
		netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	}
	if (!log_chosen) {
		if (foreground)
			snmp_enable_stderrlog();
		else
			snmp_enable_syslog_ident(APP_NAME, LOG_DAEMON);
	}
	/* A subagent has no state worth persisting in /var/lib/snmp. */
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 1);
	if (agentx_socket)
		netsnmp_ds_set_string(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_X_SOCKET,
				      agentx_socket);
	if (!foreground && netsnmp_daemonize(1, snmp_stderrlog_status()) != 0) {
		snmp_log(LOG_ERR, APP_NAME ": cannot become a daemon\n");
		goto out;
	}

	/* The subagent needs no MIB: do not parse them unless asked to (MIBS=...). */
	if (!getenv("MIBS"))
		setenv("MIBS", "", 1);
	SOCK_STARTUP;
	init_agent(APP_NAME);
	/* init_agent() resets the ping interval: set ours after it, before
	 * init_snmp() connects to the master (agentxPingInterval in the config
	 * file still wins). With an interval, a lost master is retried. */
	netsnmp_ds_set_int(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_PING_INTERVAL,
			   ping_interval);
	bbsnmp_log_to_netsnmp();
	bbsnmp_settings_init(&settings);
	bbsnmp_tokens_register(&settings);
	init_snmp(APP_NAME);
	if (bbsnmp_tokens_errors()) {
		snmp_log(LOG_ERR, APP_NAME ": %u bad value(s) in the config file (see above)\n",
			 bbsnmp_tokens_errors());
		goto shutdown;
	}
	for (size_t i = 0; i < n_overrides; i++)
		apply_override(&settings, &overrides[i]); /* validated above */

	if (setup_signals() < 0) {
		snmp_log(LOG_ERR, APP_NAME ": cannot set up signal handling\n");
		goto shutdown;
	}
	agent = bbsnmp_agent_start(&settings);
	if (!agent)
		goto shutdown;
	if (pidfile && write_pidfile(pidfile) < 0)
		goto shutdown;
	snmp_log(LOG_INFO, APP_NAME ": started (%zu config(s) loaded)\n",
		 bbsnmp_agent_n_engines(agent));

	while (!stop_requested) {
		/* Blocks until a packet, a timer (pings, cache release) or a signal. */
		if (agent_check_and_process(1) < 0 && errno != EINTR)
			snmp_log(LOG_WARNING, APP_NAME ": select: %s\n", bb_strerror(errno));
	}
	snmp_log(LOG_INFO, APP_NAME ": stopping\n");
	status = EXIT_SUCCESS;

shutdown:
	bbsnmp_agent_stop(agent); /* unregisters, then detaches every program */
	close_signals();
	bbsnmp_tokens_unregister();
	snmp_shutdown(APP_NAME);
	bbsnmp_settings_destroy(&settings);
	bbsnmp_log_restore();
	SOCK_CLEANUP;
	if (pidfile && status == EXIT_SUCCESS)
		unlink(pidfile);
out:
	bbsnmp_settings_destroy(&check);
	for (size_t i = 0; i < n_owned; i++)
		free(owned[i]);
	free(owned);
	free(overrides);
	return status;
}
