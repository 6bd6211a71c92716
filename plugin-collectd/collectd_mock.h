/* SPDX-License-Identifier: MIT */
/*
 * A small stand-in for the part of collectd's plugin API that ebpf.c uses.
 * It records what the plugin registers, dispatches and logs, so the plugin
 * can be tested without the daemon (the real daemon runs in the integration
 * tests).
 */
#ifndef EBPF_COLLECTD_MOCK_H
#define EBPF_COLLECTD_MOCK_H

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include <stdbool.h>

struct mock_value {
	char plugin[DATA_MAX_NAME_LEN];
	char plugin_instance[DATA_MAX_NAME_LEN];
	char type[DATA_MAX_NAME_LEN];
	char type_instance[DATA_MAX_NAME_LEN];
	int ds_type; /* from the registered data set, -1 if the type is unknown */
	value_t value;
	cdtime_t time;
	char meta[1024]; /* "key=value;key=value" in insertion order */
};

struct mock_log {
	int level;
	char msg[2048];
};

struct mock_read {
	char group[DATA_MAX_NAME_LEN];
	char name[2 * DATA_MAX_NAME_LEN];
	plugin_read_cb callback;
	cdtime_t interval;
	user_data_t user_data;
};

struct mock_callbacks {
	int (*config)(oconfig_item_t *);
	char config_name[DATA_MAX_NAME_LEN];
	plugin_init_cb init;
	char init_name[DATA_MAX_NAME_LEN];
	plugin_shutdown_cb shutdown;
	char shutdown_name[DATA_MAX_NAME_LEN];
};

extern struct mock_value *mock_values;
extern size_t mock_n_values;
extern struct mock_log *mock_logs;
extern size_t mock_n_logs;
extern struct mock_read *mock_reads;
extern size_t mock_n_reads;
extern struct mock_callbacks mock_callbacks;
/* live meta_data objects: must be 0 after every test */
extern long mock_meta_live;

/* Forget the values dispatched so far. */
void mock_clear_values(void);
/* Forget everything recorded, and every data set. */
void mock_reset(void);
/* A data set as types.db would define it (one source named "value"). */
void mock_add_type(const char *type, int ds_type);
size_t mock_n_types(void);

/* The first value with this type and type_instance, or NULL. */
const struct mock_value *mock_find_value(const char *type, const char *type_instance);
/* Number of logged messages at LEVEL containing every non-NULL needle. */
size_t mock_count_logs(int level, const char *needle, const char *needle2);
void mock_print_logs(void);

#endif
