/* SPDX-License-Identifier: MIT */
/* The core's logger. Front-ends install a sink; the default writes to stderr. */
#ifndef BPFBRIDGE_LOG_H
#define BPFBRIDGE_LOG_H

#include <stdarg.h>

enum bb_log_level { BB_LOG_ERR = 0, BB_LOG_WARN, BB_LOG_INFO, BB_LOG_DEBUG };

typedef void (*bb_log_sink)(enum bb_log_level level, const char *msg, void *ctx);

/* Install a sink (NULL restores stderr) and the most verbose level passed to it. */
void bb_log_set_sink(bb_log_sink sink, void *ctx);
void bb_log_set_level(enum bb_log_level max_level);
enum bb_log_level bb_log_get_level(void);

void bb_log(enum bb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bb_vlog(enum bb_log_level level, const char *fmt, va_list ap);

/* strerror() for any thread (collectd's read threads, snmpd's agent): the text
 * lives in a per-thread buffer or is libc's constant; ERR may be negative. */
const char *bb_strerror(int err);

#define bb_err(...) bb_log(BB_LOG_ERR, __VA_ARGS__)
#define bb_warn(...) bb_log(BB_LOG_WARN, __VA_ARGS__)
#define bb_info(...) bb_log(BB_LOG_INFO, __VA_ARGS__)
#define bb_debug(...) bb_log(BB_LOG_DEBUG, __VA_ARGS__)

#endif
