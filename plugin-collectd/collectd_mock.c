/* SPDX-License-Identifier: MIT */
/* See collectd_mock.h. Behaves like collectd 5.12 where ebpf.c can tell. */
#include "collectd_mock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mock_value *mock_values;
size_t mock_n_values;
struct mock_log *mock_logs;
size_t mock_n_logs;
struct mock_read *mock_reads;
size_t mock_n_reads;
struct mock_callbacks mock_callbacks;
long mock_meta_live;

static data_set_t *mock_types;
static size_t mock_n_types_;

static void *mock_grow(void *arr, size_t n, size_t size)
{
	void *p = realloc(arr, (n + 1) * size);

	if (p == NULL) {
		fprintf(stderr, "collectd_mock: out of memory\n");
		abort();
	}
	return p;
}

static void mock_copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

void mock_clear_values(void)
{
	free(mock_values);
	mock_values = NULL;
	mock_n_values = 0;
}

void mock_reset(void)
{
	free(mock_values);
	mock_values = NULL;
	mock_n_values = 0;
	free(mock_logs);
	mock_logs = NULL;
	mock_n_logs = 0;
	/* collectd frees what is still registered (its read heap) */
	for (size_t i = 0; i < mock_n_reads; i++)
		if (mock_reads[i].user_data.free_func != NULL)
			mock_reads[i].user_data.free_func(mock_reads[i].user_data.data);
	free(mock_reads);
	mock_reads = NULL;
	mock_n_reads = 0;
	memset(&mock_callbacks, 0, sizeof(mock_callbacks));
	for (size_t i = 0; i < mock_n_types_; i++)
		free(mock_types[i].ds);
	free(mock_types);
	mock_types = NULL;
	mock_n_types_ = 0;
}

size_t mock_n_types(void)
{
	return mock_n_types_;
}

static data_set_t *mock_find_type(const char *type)
{
	for (size_t i = 0; i < mock_n_types_; i++)
		if (strcmp(mock_types[i].type, type) == 0)
			return mock_types + i;
	return NULL;
}

void mock_add_type(const char *type, int ds_type)
{
	data_source_t src = { .name = "value", .type = ds_type };
	data_set_t ds = { .ds_num = 1, .ds = &src };

	mock_copy(ds.type, sizeof(ds.type), type);
	plugin_register_data_set(&ds);
}

const struct mock_value *mock_find_value(const char *type, const char *type_instance)
{
	for (size_t i = 0; i < mock_n_values; i++)
		if (strcmp(mock_values[i].type, type) == 0 &&
		    strcmp(mock_values[i].type_instance, type_instance) == 0)
			return mock_values + i;
	return NULL;
}

size_t mock_count_logs(int level, const char *needle, const char *needle2)
{
	size_t n = 0;

	for (size_t i = 0; i < mock_n_logs; i++) {
		if (mock_logs[i].level != level)
			continue;
		if (needle && !strstr(mock_logs[i].msg, needle))
			continue;
		if (needle2 && !strstr(mock_logs[i].msg, needle2))
			continue;
		n++;
	}
	return n;
}

void mock_print_logs(void)
{
	for (size_t i = 0; i < mock_n_logs; i++)
		fprintf(stderr, "# log[%d] %s\n", mock_logs[i].level, mock_logs[i].msg);
}

/* ---- logging ---- */

void plugin_log(int level, const char *format, ...)
{
	va_list ap;

	mock_logs = mock_grow(mock_logs, mock_n_logs, sizeof(*mock_logs));
	mock_logs[mock_n_logs].level = level;
	va_start(ap, format);
	vsnprintf(mock_logs[mock_n_logs].msg, sizeof(mock_logs[0].msg), format, ap);
	va_end(ap);
	mock_n_logs++;
}

/* ---- registration ---- */

int plugin_register_complex_config(const char *type, int (*callback)(oconfig_item_t *))
{
	mock_copy(mock_callbacks.config_name, sizeof(mock_callbacks.config_name), type);
	mock_callbacks.config = callback;
	return 0;
}

int plugin_register_init(const char *name, plugin_init_cb callback)
{
	mock_copy(mock_callbacks.init_name, sizeof(mock_callbacks.init_name), name);
	mock_callbacks.init = callback;
	return 0;
}

int plugin_register_shutdown(const char *name, plugin_shutdown_cb callback)
{
	mock_copy(mock_callbacks.shutdown_name, sizeof(mock_callbacks.shutdown_name), name);
	mock_callbacks.shutdown = callback;
	return 0;
}

int plugin_register_complex_read(const char *group, const char *name, plugin_read_cb callback,
				 cdtime_t interval, user_data_t const *user_data)
{
	for (size_t i = 0; i < mock_n_reads; i++)
		if (strcmp(mock_reads[i].name, name) == 0)
			return EINVAL; /* collectd refuses a duplicate name */
	mock_reads = mock_grow(mock_reads, mock_n_reads, sizeof(*mock_reads));
	mock_copy(mock_reads[mock_n_reads].group, sizeof(mock_reads[0].group), group);
	mock_copy(mock_reads[mock_n_reads].name, sizeof(mock_reads[0].name), name);
	mock_reads[mock_n_reads].callback = callback;
	mock_reads[mock_n_reads].interval = interval;
	mock_reads[mock_n_reads].user_data = *user_data;
	mock_n_reads++;
	return 0;
}

int plugin_unregister_read(const char *name)
{
	for (size_t i = 0; i < mock_n_reads; i++) {
		user_data_t ud = mock_reads[i].user_data;

		if (strcmp(mock_reads[i].name, name) != 0)
			continue;
		mock_reads[i] = mock_reads[--mock_n_reads];
		if (ud.free_func != NULL)
			ud.free_func(ud.data);
		return 0;
	}
	return -ENOENT;
}

int plugin_register_data_set(const data_set_t *ds)
{
	data_set_t *have = mock_find_type(ds->type);

	if (have != NULL) { /* collectd replaces it */
		free(have->ds);
		*have = *ds;
	} else {
		mock_types = mock_grow(mock_types, mock_n_types_, sizeof(*mock_types));
		have = mock_types + mock_n_types_++;
		*have = *ds;
	}
	have->ds = calloc(ds->ds_num, sizeof(*ds->ds));
	if (have->ds == NULL)
		abort();
	memcpy(have->ds, ds->ds, ds->ds_num * sizeof(*ds->ds));
	return 0;
}

int plugin_unregister_data_set(const char *name)
{
	data_set_t *have = mock_find_type(name);

	if (have == NULL)
		return -1;
	free(have->ds);
	*have = mock_types[--mock_n_types_];
	return 0;
}

const data_set_t *plugin_get_ds(const char *name)
{
	return mock_find_type(name);
}

/* ---- dispatch ---- */

struct mock_meta_entry {
	char *key;
	char *value;
	struct mock_meta_entry *next;
};

struct meta_data_s {
	struct mock_meta_entry *head;
};

meta_data_t *meta_data_create(void)
{
	meta_data_t *md = calloc(1, sizeof(*md));

	if (md != NULL)
		mock_meta_live++;
	return md;
}

void meta_data_destroy(meta_data_t *md)
{
	if (md == NULL)
		return;
	for (struct mock_meta_entry *e = md->head, *next; e != NULL; e = next) {
		next = e->next;
		free(e->key);
		free(e->value);
		free(e);
	}
	free(md);
	mock_meta_live--;
}

int meta_data_add_string(meta_data_t *md, const char *key, const char *value)
{
	struct mock_meta_entry *e, **tail;

	if (md == NULL || key == NULL || value == NULL)
		return -EINVAL;
	/* collectd replaces an existing key */
	for (e = md->head; e != NULL; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			char *v = strdup(value);
			if (v == NULL)
				return -ENOMEM;
			free(e->value);
			e->value = v;
			return 0;
		}
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->key = strdup(key);
	e->value = strdup(value);
	for (tail = &md->head; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = e;
	return 0;
}

int meta_data_delete(meta_data_t *md, const char *key)
{
	if (md == NULL || key == NULL)
		return -EINVAL;
	for (struct mock_meta_entry **e = &md->head; *e != NULL; e = &(*e)->next) {
		if (strcmp((*e)->key, key) == 0) {
			struct mock_meta_entry *dead = *e;

			*e = dead->next;
			free(dead->key);
			free(dead->value);
			free(dead);
			return 0;
		}
	}
	return -ENOENT; /* collectd: "Cannot find key" */
}

int plugin_dispatch_values(value_list_t const *vl)
{
	const data_set_t *ds = mock_find_type(vl->type);
	struct mock_value *mv;
	size_t off = 0;

	if (vl->values_len != 1) {
		plugin_log(LOG_ERR, "mock: values_len %zu", vl->values_len);
		return -1;
	}
	mock_values = mock_grow(mock_values, mock_n_values, sizeof(*mock_values));
	mv = mock_values + mock_n_values++;
	memset(mv, 0, sizeof(*mv));
	mock_copy(mv->plugin, sizeof(mv->plugin), vl->plugin);
	mock_copy(mv->plugin_instance, sizeof(mv->plugin_instance), vl->plugin_instance);
	mock_copy(mv->type, sizeof(mv->type), vl->type);
	mock_copy(mv->type_instance, sizeof(mv->type_instance), vl->type_instance);
	mv->ds_type = ds ? ds->ds[0].type : -1;
	mv->value = vl->values[0];
	mv->time = vl->time;
	for (struct mock_meta_entry *e = vl->meta ? vl->meta->head : NULL; e != NULL; e = e->next)
		off += snprintf(mv->meta + off, off < sizeof(mv->meta) ? sizeof(mv->meta) - off : 0,
				"%s%s=%s", off ? ";" : "", e->key, e->value);
	return ds ? 0 : -1;
}

/* ---- config helpers (same checks and messages as collectd's) ---- */

int cf_util_get_string(const oconfig_item_t *ci, char **ret_string)
{
	char *s;

	if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
		plugin_log(LOG_ERR,
			   "cf_util_get_string: The %s option requires exactly one string "
			   "argument.",
			   ci->key);
		return -1;
	}
	s = strdup(ci->values[0].value.string);
	if (s == NULL)
		return -1;
	free(*ret_string);
	*ret_string = s;
	return 0;
}

int cf_util_get_boolean(const oconfig_item_t *ci, bool *ret_bool)
{
	if (ci->values_num != 1 || (ci->values[0].type != OCONFIG_TYPE_BOOLEAN &&
				    ci->values[0].type != OCONFIG_TYPE_STRING)) {
		plugin_log(LOG_ERR,
			   "cf_util_get_boolean: The %s option requires exactly one "
			   "boolean argument.",
			   ci->key);
		return -1;
	}
	if (ci->values[0].type == OCONFIG_TYPE_BOOLEAN) {
		*ret_bool = ci->values[0].value.boolean != 0;
		return 0;
	}
	if (strcasecmp("true", ci->values[0].value.string) == 0 ||
	    strcasecmp("yes", ci->values[0].value.string) == 0 ||
	    strcasecmp("on", ci->values[0].value.string) == 0) {
		*ret_bool = true;
		return 0;
	}
	if (strcasecmp("false", ci->values[0].value.string) == 0 ||
	    strcasecmp("no", ci->values[0].value.string) == 0 ||
	    strcasecmp("off", ci->values[0].value.string) == 0) {
		*ret_bool = false;
		return 0;
	}
	plugin_log(LOG_ERR,
		   "cf_util_get_boolean: Cannot parse string value `%s' of the `%s' "
		   "option as a boolean value.",
		   ci->values[0].value.string, ci->key);
	return -1;
}

int cf_util_get_int(const oconfig_item_t *ci, int *ret_value)
{
	if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER) {
		plugin_log(LOG_ERR,
			   "cf_util_get_int: The %s option requires exactly one numeric "
			   "argument.",
			   ci->key);
		return -1;
	}
	*ret_value = (int)ci->values[0].value.number;
	return 0;
}

int cf_util_get_cdtime(const oconfig_item_t *ci, cdtime_t *ret_value)
{
	if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER) {
		plugin_log(LOG_ERR,
			   "cf_util_get_cdtime: The %s option requires exactly one "
			   "numeric argument.",
			   ci->key);
		return -1;
	}
	if (ci->values[0].value.number < 0.0) {
		plugin_log(LOG_ERR,
			   "cf_util_get_cdtime: The numeric argument of the %s option "
			   "must not be negative.",
			   ci->key);
		return -1;
	}
	*ret_value = DOUBLE_TO_CDTIME_T(ci->values[0].value.number);
	return 0;
}
