#!/bin/sh
# Issue 17: collectd calls the read callbacks from several threads and snmpd's
# agent runs beside them, so the core and both plugins use bb_strerror() (a
# per-thread buffer), never strerror(), whose buffer is shared. TAP output.
src=${srcdir:-.}/../..
found=$(grep -nE '(^|[^_[:alnum:]])strerror\(' "$src"/core/*.c "$src"/plugin-collectd/ebpf.c \
	"$src"/plugin-snmp/agent.c "$src"/plugin-snmp/tables.c "$src"/plugin-snmp/index.c \
	"$src"/plugin-snmp/subagent.c "$src"/plugin-snmp/dlmod.c 2>&1)
echo "1..1"
if [ -n "$found" ]; then
	echo "not ok 1 - strerror() in the core or a plugin:"
	echo "$found" | sed 's/^/# /'
	exit 1
fi
echo "ok 1 - no strerror() in the core or the plugins"
