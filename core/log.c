/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* the GNU strerror_r, which returns the text */
#endif
#include <stdio.h>
#include <string.h>

#include "log.h"

static bb_log_sink log_sink;
static void *log_ctx;
static enum bb_log_level log_max = BB_LOG_INFO;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void bb_log_set_sink(bb_log_sink sink, void *ctx)
{
	log_sink = sink;
	log_ctx = ctx;
}

void bb_log_set_level(enum bb_log_level max_level)
{
	log_max = max_level;
}

enum bb_log_level bb_log_get_level(void)
{
	return log_max;
}

void bb_vlog(enum bb_log_level level, const char *fmt, va_list ap)
{
	char msg[1024];

	if (level > log_max)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_sink)
		log_sink(level, msg, log_ctx);
	else
		fprintf(stderr, "bpfbridge %s: %s\n", level_names[level], msg);
}

void bb_log(enum bb_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bb_vlog(level, fmt, ap);
	va_end(ap);
}

const char *bb_strerror(int err)
{
	static __thread char buf[64];

	if (err < 0)
		err = -err;
	/* GNU strerror_r returns libc's constant text, or BUF filled for an unknown
	 * number: both stay valid for this thread, unlike the buffer that plain strerror shares. */
	return strerror_r(err, buf, sizeof(buf));
}
