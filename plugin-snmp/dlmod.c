/* SPDX-License-Identifier: MIT */
/*
 * bpfbridge.so, loaded into snmpd by a "dlmod bpfbridge /path/bpfbridge.so"
 * line in snmpd.conf.
 *
 * init_bpfbridge() runs while snmpd reads that line: it registers the
 * bpfbridge* tokens (so they must come after the dlmod line) and waits for the
 * end of config reading to load the engines and register the tables.
 *
 * On SIGHUP snmpd frees its config, which unloads every dlmod
 * (deinit_bpfbridge(), then dlclose()), and reads it again, which loads us
 * afresh. So deinit must leave nothing behind that points into this object:
 * no handler, cache, container, config token, callback or log sink.
 */
#include <stdbool.h>

#include "bbsnmp.h"

/* Both are exported for snmpd's dlmod loader; nothing else is. */
void init_bpfbridge(void);
void deinit_bpfbridge(void);

static struct bbsnmp_settings dlmod_settings;
static struct bbsnmp_agent *dlmod_agent;
static bool dlmod_started;

static int dlmod_post_config(int major, int minor, void *server_arg, void *client_arg)
{
	/* read_configs() may run again without reloading us: start once. */
	if (dlmod_started)
		return SNMPERR_SUCCESS;
	dlmod_started = true;
	dlmod_agent = bbsnmp_agent_start(&dlmod_settings);
	if (!dlmod_agent)
		snmp_log(LOG_ERR, "bpfbridge: not serving any table (see the errors above)\n");
	return SNMPERR_SUCCESS;
}

void init_bpfbridge(void)
{
	bbsnmp_log_to_netsnmp();
	bbsnmp_settings_init(&dlmod_settings);
	dlmod_agent = NULL;
	dlmod_started = false;
	bbsnmp_tokens_register(&dlmod_settings);
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_POST_READ_CONFIG,
			       dlmod_post_config, NULL);
	DEBUGMSGTL(("bpfbridge", "dlmod initialized\n"));
}

void deinit_bpfbridge(void)
{
	snmp_unregister_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_POST_READ_CONFIG,
				 dlmod_post_config, NULL, 1);
	bbsnmp_tokens_unregister();
	bbsnmp_agent_stop(dlmod_agent);
	dlmod_agent = NULL;
	dlmod_started = false;
	bbsnmp_settings_destroy(&dlmod_settings);
	snmp_log(LOG_INFO, "bpfbridge: unloaded\n");
	bbsnmp_log_restore();
}
