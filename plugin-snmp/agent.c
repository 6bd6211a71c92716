/* SPDX-License-Identifier: MIT */
/*
 * What the dlmod and the subagent share: the settings and their config
 * tokens, the core's logger routed into net-snmp's, and the engines whose
 * snapshot feeds every cache load of the tables.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bbsnmp.h"
#include "confdir.h"

#ifndef BBSNMP_DEFAULT_CONFIG_DIR
#define BBSNMP_DEFAULT_CONFIG_DIR "/usr/share/bpfbridge/configs"
#endif

static const oid default_root[] = { BBSNMP_DEFAULT_ROOT };

/* ---- settings ------------------------------------------------------------------- */

void bbsnmp_settings_init(struct bbsnmp_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->cache_timeout = BBSNMP_DEFAULT_CACHE_TIMEOUT;
	memcpy(s->root, default_root, sizeof(default_root));
	s->root_len = sizeof(default_root) / sizeof(default_root[0]);
}

void bbsnmp_settings_destroy(struct bbsnmp_settings *s)
{
	free(s->config_dir);
	for (size_t i = 0; i < s->n_configs; i++)
		free(s->configs[i]);
	free(s->configs);
	free(s->btf_path);
	memset(s, 0, sizeof(*s));
}

static const char *set_string(char **field, const char *value, const char *what)
{
	char *copy;

	if (!value || !*value)
		return what;
	copy = strdup(value);
	if (!copy)
		return "out of memory";
	free(*field);
	*field = copy;
	return NULL;
}

const char *bbsnmp_set_config_dir(struct bbsnmp_settings *s, const char *dir)
{
	return set_string(&s->config_dir, dir, "expected a directory");
}

const char *bbsnmp_set_btf(struct bbsnmp_settings *s, const char *path)
{
	return set_string(&s->btf_path, path, "expected the path of a BTF file");
}

/* NAMES: one or more config names separated by blanks or commas. */
const char *bbsnmp_add_configs(struct bbsnmp_settings *s, const char *names)
{
	const char *p = names;
	size_t added = 0;

	while (p && *p) {
		size_t len;
		char **grown;

		while (*p && (isspace((unsigned char)*p) || *p == ','))
			p++;
		len = strcspn(p, " \t\r\n,");
		if (!len)
			break;
		grown = realloc(s->configs, (s->n_configs + 1) * sizeof(*grown));
		if (!grown)
			return "out of memory";
		s->configs = grown;
		s->configs[s->n_configs] = strndup(p, len);
		if (!s->configs[s->n_configs])
			return "out of memory";
		s->n_configs++;
		added++;
		p += len;
	}
	return added ? NULL : "expected one or more config names (NAME for NAME.yaml)";
}

const char *bbsnmp_set_cache_timeout(struct bbsnmp_settings *s, const char *value)
{
	char *end;
	long v;

	errno = 0;
	v = value ? strtol(value, &end, 10) : 0;
	if (!value || end == value || *end || errno || v < 0 || v > 86400)
		return "expected a whole number of seconds from 0 to 86400";
	s->cache_timeout = (int)v;
	return NULL;
}

const char *bbsnmp_set_interval(struct bbsnmp_settings *s, const char *value)
{
	char *end;
	long v;

	errno = 0;
	v = value ? strtol(value, &end, 10) : 0;
	if (!value || end == value || *end || errno || v < 0 || v > 86400)
		return "expected a whole number of seconds from 1 to 86400 (0 for the cache "
		       "timeout)";
	s->interval = (int)v;
	return NULL;
}

const char *bbsnmp_set_strict(struct bbsnmp_settings *s, const char *value)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; value && i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			s->strict = true;
			return NULL;
		}
		if (strcasecmp(value, no[i]) == 0) {
			s->strict = false;
			return NULL;
		}
	}
	return "expected yes or no";
}

const char *bbsnmp_set_autoload(struct bbsnmp_settings *s, const char *value)
{
	bool strict = s->strict;
	const char *err = bbsnmp_set_strict(s, value);

	if (!err)
		s->autoload = s->strict;
	s->strict = strict;
	return err;
}

const char *bbsnmp_set_max_series(struct bbsnmp_settings *s, const char *value)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = value ? strtoul(value, &end, 10) : 0;
	if (!value || end == value || *end || errno || v > UINT32_MAX || value[0] == '-')
		return "expected a whole number of series (0 for the default)";
	s->max_series = (uint32_t)v;
	return NULL;
}

/* Numeric OIDs are parsed here so that "1.3.6..." is never taken as relative
 * to mib-2; names go through net-snmp (they need the MIB to be loaded). */
const char *bbsnmp_set_root_oid(struct bbsnmp_settings *s, const char *value)
{
	const char *p = value;
	oid parsed[MAX_OID_LEN];
	size_t n = 0;

	if (!value || !*value)
		return "expected an OID such as .1.3.6.1.4.1.8072.9999.25186";
	if (*p == '.')
		p++;
	if (isdigit((unsigned char)*p)) {
		while (*p) {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(p, &end, 10);
			if (end == p || errno || v > 0xffffffffUL || n == BBSNMP_ROOT_MAX ||
			    (*end && *end != '.'))
				return "expected a numeric OID (.1.3.6...) of at most 121 "
				       "sub-identifiers (rows add 7 to the root, up to 128)";
			parsed[n++] = v;
			p = *end ? end + 1 : end;
		}
	} else {
		size_t len = MAX_OID_LEN;

		if (!snmp_parse_oid(value, parsed, &len))
			return "expected an OID (a name needs its MIB loaded; a numeric OID always "
			       "works)";
		n = len;
		if (n > BBSNMP_ROOT_MAX)
			return "expected an OID of at most 121 sub-identifiers (rows add 7 to "
			       "the root, up to 128)";
	}
	if (n < 2)
		return "expected an OID of at least two sub-identifiers";
	memcpy(s->root, parsed, n * sizeof(oid));
	s->root_len = n;
	return NULL;
}

/* ---- config tokens --------------------------------------------------------------- */

/* net-snmp's token callbacks carry no context pointer. */
static struct bbsnmp_settings *token_settings;
static unsigned token_errors;

typedef const char *(*setter_fn)(struct bbsnmp_settings *s, const char *value);

static const struct token {
	const char *name;
	setter_fn set;
	const char *help;
} tokens[] = {
	{ "bpfbridgeConfigDir", bbsnmp_set_config_dir, "DIRECTORY" },
	{ "bpfbridgeConfig", bbsnmp_add_configs, "NAME [NAME...]" },
	{ "bpfbridgeCacheTimeout", bbsnmp_set_cache_timeout, "SECONDS" },
	{ "bpfbridgeInterval", bbsnmp_set_interval, "SECONDS" },
	{ "bpfbridgeRootOID", bbsnmp_set_root_oid, "OID" },
	{ "bpfbridgeStrict", bbsnmp_set_strict, "yes|no" },
	{ "bpfbridgeAutoLoad", bbsnmp_set_autoload, "yes|no" },
	{ "bpfbridgeMaxSeries", bbsnmp_set_max_series, "SERIES-PER-METRIC" },
	{ "bpfbridgeBTF", bbsnmp_set_btf, "PATH" },
};

static void parse_token(const char *token, char *line)
{
	char msg[256];
	char *end;

	if (!token_settings)
		return;
	/* Trailing blanks are not part of a value. */
	for (end = line + strlen(line); end > line && isspace((unsigned char)end[-1]); end--)
		end[-1] = '\0';
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		const char *err;

		if (strcasecmp(token, tokens[i].name) != 0)
			continue;
		err = tokens[i].set(token_settings, line);
		if (err) {
			snprintf(msg, sizeof(msg), "%s: %s, got \"%s\"", tokens[i].name, err, line);
			config_perror(msg);
			token_errors++;
		}
		return;
	}
}

void bbsnmp_tokens_register(struct bbsnmp_settings *s)
{
	token_settings = s;
	token_errors = 0;
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		register_app_config_handler(tokens[i].name, parse_token, NULL, tokens[i].help);
}

void bbsnmp_tokens_unregister(void)
{
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		unregister_app_config_handler(tokens[i].name);
	token_settings = NULL;
}

unsigned bbsnmp_tokens_errors(void)
{
	return token_errors;
}

/* ---- logging ----------------------------------------------------------------------- */

/*
 * net-snmp's logger belongs to the agent's thread. Messages from the reader
 * thread wait in a queue that the agent's thread empties (log_flush); when it
 * is full they are counted, and the count is logged instead.
 */
#define LOG_QUEUE 128

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t log_owner;
static struct {
	int priority;
	char *msg;
} log_queue[LOG_QUEUE];
static unsigned log_queued, log_lost;

static int log_priority(enum bb_log_level level)
{
	static const int priority[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	return priority[level <= BB_LOG_DEBUG ? level : BB_LOG_DEBUG];
}

static void log_sink(enum bb_log_level level, const char *msg, void *ctx)
{
	char *copy;

	if (pthread_equal(pthread_self(), log_owner)) {
		snmp_log(log_priority(level), "bpfbridge: %s\n", msg);
		return;
	}
	copy = strdup(msg);
	pthread_mutex_lock(&log_lock);
	if (copy && log_queued < LOG_QUEUE) {
		log_queue[log_queued].priority = log_priority(level);
		log_queue[log_queued++].msg = copy;
		copy = NULL;
	} else {
		log_lost++;
	}
	pthread_mutex_unlock(&log_lock);
	free(copy);
}

/* On the agent's thread: log what the reader thread queued. */
static void log_flush(void)
{
	unsigned n, lost;

	pthread_mutex_lock(&log_lock);
	n = log_queued;
	lost = log_lost;
	for (unsigned i = 0; i < n; i++) {
		snmp_log(log_queue[i].priority, "bpfbridge: %s\n", log_queue[i].msg);
		free(log_queue[i].msg);
	}
	log_queued = log_lost = 0;
	pthread_mutex_unlock(&log_lock);
	if (lost)
		snmp_log(LOG_WARNING,
			 "bpfbridge: %u more messages from the reader thread lost (queue full)\n",
			 lost);
}

void bbsnmp_log_to_netsnmp(void)
{
	log_owner = pthread_self();
	bb_log_set_sink(log_sink, NULL);
}

void bbsnmp_log_restore(void)
{
	log_flush();
	bb_log_set_sink(NULL, NULL);
}

/* ---- engines ------------------------------------------------------------------------ */

struct bbsnmp_agent {
	/* The configs, kept in step with the config directory by each refresh
	 * (configs added, changed and removed at run time); polled only by the
	 * thread that builds rows. */
	struct bb_confdir *confdir;
	struct bbsnmp_program *programs; /* strings point into the confdir's entries */
	size_t n_programs, cap_programs;
	struct bbsnmp_tables *tables;

	/*
	 * The reader thread (when the interval is not 0): every interval it
	 * reads the engines and builds the rows (bbsnmp_tables_build) into
	 * `pending`; a cache load on the agent's thread only swaps them in, and
	 * hands the rows it replaced back to the reader to free. The engines and
	 * the index maps are the reader's alone while it runs.
	 */
	int interval; /* seconds; 0 = no reader: each cache load reads */
	bool reader_started, reader_failed;
	pthread_t reader;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	/* The reader wakes the agent's thread through this pipe (registered
	 * with net-snmp's select loop) as soon as it has built rows, so they are
	 * swapped in and the old ones freed at once, without waiting for a
	 * request: one set of rows lives between reads. */
	int wake_fd[2];
	bool wake_registered;
	struct bbsnmp_view *pending;
	struct bbsnmp_view *retired[4];
	/* statistics, under lock */
	uint64_t builds, installs;
	double last_build_ms, max_install_ms;
};

static enum bbsnmp_program_status program_status(enum bb_program_state state)
{
	switch (state) {
	case BB_PROG_ATTACHED:
		return BBSNMP_PROG_ATTACHED;
	case BB_PROG_FAILED:
		return BBSNMP_PROG_FAILED;
	case BB_PROG_SKIPPED:
		return BBSNMP_PROG_SKIPPED;
	}
	return BBSNMP_PROG_FAILED;
}

/* The programs table's rows, rebuilt at each refresh (a reload changes them);
 * a config whose last load or reload failed adds a row with the error. */
static int build_programs(struct bbsnmp_agent *a)
{
	size_t n = 0;

	for (size_t e = 0; e < bb_confdir_n_entries(a->confdir); e++) {
		struct bb_confent *ent = bb_confdir_entry(a->confdir, e);

		n += 1 + bb_engine_n_programs(bb_confent_lock(ent, NULL));
		bb_confent_unlock(ent);
	}
	if (n > a->cap_programs) {
		struct bbsnmp_program *grown = realloc(a->programs, n * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		a->programs = grown;
		a->cap_programs = n;
	}
	a->n_programs = 0;
	for (size_t e = 0; e < bb_confdir_n_entries(a->confdir); e++) {
		struct bb_confent *ent = bb_confdir_entry(a->confdir, e);
		const char *last_error;
		struct bb_engine *eng = bb_confent_lock(ent, &last_error);

		/* unlocked below: only this thread swaps engines (in the poll) */
		bb_confent_unlock(ent);
		for (size_t i = 0; i < bb_engine_n_programs(eng); i++) {
			const struct bb_program_status *st = bb_engine_program(eng, i);
			struct bbsnmp_program *p = &a->programs[a->n_programs++];

			p->config = bb_confent_name(ent);
			p->name = st->name;
			p->section = st->section;
			p->hook = st->hook;
			p->alternative = st->alternative;
			p->status = program_status(st->state);
			p->error = st->state == BB_PROG_ATTACHED ? 0 : st->error;
			p->reason = st->reason;
		}
		if (last_error[0] || (!eng && bb_confent_tried(ent))) {
			struct bbsnmp_program *p = &a->programs[a->n_programs++];

			p->config = bb_confent_name(ent);
			p->name = "";
			p->section = "";
			p->hook = "";
			p->alternative = -1;
			p->status = BBSNMP_PROG_CONFIG_FAILED;
			p->error = EINVAL;
			p->reason = last_error[0] ? last_error : "its files are incomplete";
		}
	}
	return 0;
}

/* Apply the config directory's changes and read every config. */
static struct bb_snapshot *refresh(struct bbsnmp_agent *a, int *err)
{
	struct bb_snapshot *snap;

	*err = 0;
	bb_confdir_poll(a->confdir);
	if (build_programs(a) < 0)
		a->n_programs = 0;
	snap = bb_snapshot_new();
	if (!snap) {
		bb_err("snmp: cannot take a snapshot: out of memory");
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t e = 0; e < bb_confdir_n_entries(a->confdir); e++)
		/* failures are self-metrics */
		(void)bb_confent_read(bb_confdir_entry(a->confdir, e), snap, NULL);
	bb_snapshot_finish(snap);
	return snap;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Read every engine and build the rows of that snapshot. */
static int build_view(struct bbsnmp_agent *a, struct bbsnmp_view **out)
{
	struct bb_snapshot *snap;
	int err;

	snap = refresh(a, &err);
	if (!snap)
		return err;
	err = bbsnmp_tables_build(a->tables, snap, a->programs, a->n_programs, out);
	bb_snapshot_unref(snap);
	return err;
}

/* Free what the agent handed back; false when there was nothing. Called and
 * returns with the lock held. */
static bool free_retired(struct bbsnmp_agent *a)
{
	struct bbsnmp_view *dead = NULL;

	for (size_t i = 0; i < 4 && !dead; i++) {
		dead = a->retired[i];
		a->retired[i] = NULL;
	}
	if (!dead)
		return false;
	pthread_mutex_unlock(&a->lock);
	bbsnmp_view_free(dead);
	pthread_mutex_lock(&a->lock);
	return true;
}

static void *reader_main(void *arg)
{
	struct bbsnmp_agent *a = arg;
	struct timespec until;

	pthread_mutex_lock(&a->lock);
	clock_gettime(CLOCK_REALTIME, &until);
	while (!a->stop) {
		struct bbsnmp_view *view = NULL, *old;
		double t0;

		/* Wait out the interval, freeing rows the agent hands back. */
		until.tv_sec += a->interval;
		while (!a->stop)
			if (!free_retired(a) &&
			    pthread_cond_timedwait(&a->wake, &a->lock, &until) == ETIMEDOUT)
				break;
		if (a->stop)
			break;
		/* The next read is due one interval after this one started. */
		clock_gettime(CLOCK_REALTIME, &until);
		/* Rows built but never installed (no request came) are replaced by
		 * the ones about to be built: free them first, so that at most two
		 * sets of rows live at once (the one served and the one being built). */
		while (free_retired(a))
			;
		old = a->pending;
		a->pending = NULL;
		pthread_mutex_unlock(&a->lock);
		bbsnmp_view_free(old);
		t0 = now_ms();
		if (build_view(a, &view) < 0)
			view = NULL; /* logged; the rows installed before stay */
		pthread_mutex_lock(&a->lock);
		a->builds++;
		a->last_build_ms = now_ms() - t0;
		if (view) {
			char c = 1;

			a->pending = view;
			/* full pipe: a wake-up is already on its way */
			if (a->wake_fd[1] >= 0 && write(a->wake_fd[1], &c, 1) < 0 &&
			    errno != EAGAIN)
				bb_warn("snmp: cannot wake the agent's thread: %s",
					bb_strerror(errno));
		}
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/*
 * The first rows are built at start, on the agent's thread, before any
 * request can come. The reader thread starts with the first cache load: snmpd
 * forks into the background after loading its modules, and a thread started
 * before the fork would not exist in the daemon.
 */
static void first_build(struct bbsnmp_agent *a)
{
	struct bbsnmp_view *view = NULL;
	double t0 = now_ms();

	bbsnmp_tables_keep_rows(a->tables, true);
	if (build_view(a, &view) == 0)
		bbsnmp_view_free(bbsnmp_tables_install(a->tables, view));
	a->last_build_ms = now_ms() - t0;
	a->builds = 1;
}

static int install_pending(struct bbsnmp_agent *a);

/* On the agent's thread, between requests: the reader has built rows. */
static void on_wake(int fd, void *arg)
{
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	(void)install_pending(arg);
}

/* The wake-up pipe; without it the rows are swapped in by the next request. */
static void open_wake(struct bbsnmp_agent *a)
{
	a->wake_fd[0] = a->wake_fd[1] = -1;
	if (pipe2(a->wake_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
		a->wake_fd[0] = a->wake_fd[1] = -1;
		return;
	}
	a->wake_registered = register_readfd(a->wake_fd[0], on_wake, a) == FD_REGISTERED_OK;
}

static void close_wake(struct bbsnmp_agent *a)
{
	if (a->wake_registered)
		unregister_readfd(a->wake_fd[0]);
	a->wake_registered = false;
	for (int i = 0; i < 2; i++) {
		if (a->wake_fd[i] >= 0)
			close(a->wake_fd[i]);
		a->wake_fd[i] = -1;
	}
}

static int start_reader(struct bbsnmp_agent *a)
{
	int err;

	sigset_t all, old;

	open_wake(a);
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->wake, NULL);
	/* Signals stay the agent's: snmpd's SIGHUP and the subagent's SIGTERM
	 * must interrupt its select(), which a handler run here would not. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&a->reader, NULL, reader_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_cond_destroy(&a->wake);
		pthread_mutex_destroy(&a->lock);
		close_wake(a);
		return -err;
	}
	a->reader_started = true;
	return 0;
}

/* A cache load with a reader thread: swap in the rows it built, if any. */
static int install_pending(struct bbsnmp_agent *a)
{
	struct bbsnmp_view *view, *old;
	double t0 = now_ms(), took;
	bool handed = false;

	pthread_mutex_lock(&a->lock);
	view = a->pending;
	a->pending = NULL;
	pthread_mutex_unlock(&a->lock);
	log_flush();
	if (!view)
		return 0; /* nothing new: the installed rows stay */
	old = bbsnmp_tables_install(a->tables, view);
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < 4 && old && !handed; i++)
		if (!a->retired[i]) {
			a->retired[i] = old;
			handed = true;
		}
	took = now_ms() - t0;
	a->installs++;
	if (took > a->max_install_ms)
		a->max_install_ms = took;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	if (old && !handed)
		bbsnmp_view_free(old); /* the reader is behind: free it here */
	return 0;
}

static int agent_load(struct bbsnmp_tables *tables, void *ctx)
{
	struct bbsnmp_agent *a = ctx;
	struct bb_snapshot *snap = NULL;
	int err;

	if (a->interval && !a->reader_started && !a->reader_failed) {
		int rc = start_reader(a);

		if (rc < 0) {
			/* Reads then happen here, on each cache load. */
			snmp_log(LOG_ERR, "bpfbridge: cannot start the reader thread: %s\n",
				 bb_strerror(-rc));
			a->reader_failed = true;
		}
	}
	if (a->reader_started)
		return install_pending(a);

	snap = refresh(a, &err);
	if (!snap)
		return err;
	err = bbsnmp_tables_update(tables, snap, a->programs, a->n_programs);
	bb_snapshot_unref(snap);
	return err;
}

static void stop_reader(struct bbsnmp_agent *a)
{
	if (!a->reader_started)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->reader, NULL);
	a->reader_started = false;
	bbsnmp_view_free(a->pending);
	a->pending = NULL;
	for (size_t i = 0; i < 4; i++) {
		bbsnmp_view_free(a->retired[i]);
		a->retired[i] = NULL;
	}
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	close_wake(a);
	log_flush();
}

struct bbsnmp_agent *bbsnmp_agent_start(const struct bbsnmp_settings *s)
{
	struct bbsnmp_agent *a = calloc(1, sizeof(*a));
	struct bb_confdir_conf conf = { 0 };
	struct bb_options opts;
	char err[BB_ERRMSG_MAX];
	size_t loaded = 0, failed = 0;

	if (!a)
		goto oom;
	bb_options_init(&opts);
	opts.strict = s->strict;
	opts.max_series_per_metric = s->max_series;
	opts.btf_path = s->btf_path;
	/* The rows are a copy of what the tables show: the snapshot is freed
	 * as soon as they are built, and its memory goes back to the system. */
	opts.snapshot_blocks = BB_SNAPSHOT_BLOCKS_NONE;
	/* Between reads snmpd keeps the rows and each metric's series state,
	 * not the buffers a read of the maps fills. */
	opts.release_read_buffers = true;
	if (!s->n_configs && !s->autoload)
		snmp_log(LOG_WARNING, "bpfbridge: no config to load (bpfbridgeConfig NAME or "
				      "bpfbridgeAutoLoad yes, or --config NAME or --autoload for "
				      "bpfbridge-snmp); the tables stay empty\n");
	conf.dir = s->config_dir ? s->config_dir : BBSNMP_DEFAULT_CONFIG_DIR;
	conf.autoload = s->autoload;
	conf.names = (const char *const *)s->configs;
	conf.n_names = s->n_configs;
	if (bb_confdir_new(&conf, &opts, &a->confdir, err, sizeof(err)) < 0)
		goto oom;
	/* The first load happens here, so its errors reach the log at start. */
	bb_confdir_poll(a->confdir);
	for (size_t e = 0; e < bb_confdir_n_entries(a->confdir); e++) {
		struct bb_confent *ent = bb_confdir_entry(a->confdir, e);
		const char *last_error;
		bool up = bb_confent_lock(ent, &last_error) != NULL;

		if (up)
			snmp_log(LOG_INFO, "bpfbridge: loaded config %s\n", bb_confent_name(ent));
		else
			snmp_log(LOG_ERR, "bpfbridge: config %s not loaded: %s\n",
				 bb_confent_name(ent),
				 last_error[0] ? last_error : "its .yaml or .bpf.o is missing");
		bb_confent_unlock(ent);
		loaded += up;
		failed += !up;
	}
	a->tables = bbsnmp_tables_new();
	if (!a->tables)
		goto oom;
	a->interval = s->interval ? s->interval : s->cache_timeout;
	if (a->interval)
		first_build(a);
	/* With a reader, a cache load is only a swap: every request checks.
	 * net-snmp's "always expired" is -1; inside snmpd a timeout of 0 means
	 * its default (5 s), not every request. */
	if (bbsnmp_tables_register(a->tables, s->root, s->root_len,
				   a->interval || !s->cache_timeout ? -1 : s->cache_timeout,
				   agent_load, a) < 0) {
		bbsnmp_agent_stop(a);
		return NULL;
	}
	{
		char root[MAX_OID_LEN * 11] = "";
		size_t len = 0;

		for (size_t i = 0; i < s->root_len && len < sizeof(root); i++)
			len += snprintf(root + len, sizeof(root) - len, ".%lu",
					(unsigned long)s->root[i]);
		if (a->interval)
			snmp_log(LOG_INFO,
				 "bpfbridge: serving %zu config(s) (%zu failed) under %s, read "
				 "every %d s off the agent's thread (first read %.1f ms)\n",
				 loaded, failed, root, a->interval, a->last_build_ms);
		else
			snmp_log(LOG_INFO,
				 "bpfbridge: serving %zu config(s) (%zu failed) under %s, cache %d "
				 "s\n",
				 loaded, failed, root, s->cache_timeout);
	}
	return a;
oom:
	snmp_log(LOG_ERR, "bpfbridge: out of memory while starting\n");
	bbsnmp_agent_stop(a);
	return NULL;
}

void bbsnmp_agent_stop(struct bbsnmp_agent *a)
{
	if (!a)
		return;
	/* Registrations first: no request may reach an engine being closed. */
	if (a->tables)
		bbsnmp_tables_unregister(a->tables);
	stop_reader(a);
	bbsnmp_tables_free(a->tables);
	bb_confdir_free(a->confdir); /* every program detaches */
	free(a->programs);
	free(a);
}

size_t bbsnmp_agent_n_engines(const struct bbsnmp_agent *a)
{
	size_t n = 0;

	for (size_t e = 0; a && e < bb_confdir_n_entries(a->confdir); e++) {
		struct bb_confent *ent = bb_confdir_entry(a->confdir, e);

		n += bb_confent_lock(ent, NULL) != NULL;
		bb_confent_unlock(ent);
	}
	return n;
}
