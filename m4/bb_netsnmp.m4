dnl BB_CHECK_NETSNMP: the SNMP module (dlmod + AgentX subagent) needs net-snmp's agent library.
AC_DEFUN([BB_CHECK_NETSNMP], [
	AC_ARG_WITH([snmp],
		[AS_HELP_STRING([--with-snmp=yes|no|auto], [build the net-snmp module and subagent (default auto)])],
		[], [with_snmp=auto])
	enable_snmp=no
	bb_snmp_summary="no"
	AS_IF([test "x$with_snmp" = xno], [bb_snmp_summary="no (disabled with --without-snmp)"], [
		AC_PATH_PROG([NETSNMP_CONFIG], [net-snmp-config], [no])
		AS_IF([test "x$NETSNMP_CONFIG" = xno],
		      [bb_snmp_summary="no (net-snmp-config not found: apt-get install libsnmp-dev)"], [
			NETSNMP_CFLAGS=`$NETSNMP_CONFIG --base-cflags`
			NETSNMP_AGENT_LIBS=`$NETSNMP_CONFIG --agent-libs`
			bb_save_CFLAGS="$CFLAGS"
			bb_save_LIBS="$LIBS"
			CFLAGS="$CFLAGS $NETSNMP_CFLAGS"
			LIBS="$LIBS $NETSNMP_AGENT_LIBS"
			AC_MSG_CHECKING([whether net-snmp's agent library links])
			AC_LINK_IFELSE([AC_LANG_PROGRAM([[
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>
]], [[init_agent("x");]])], [enable_snmp=yes], [])
			AC_MSG_RESULT([$enable_snmp])
			CFLAGS="$bb_save_CFLAGS"
			LIBS="$bb_save_LIBS"
			AS_IF([test "x$enable_snmp" = xyes],
			      [bb_snmp_summary="yes (net-snmp `$NETSNMP_CONFIG --version`)"],
			      [bb_snmp_summary="no (net-snmp agent library does not link)"])
		])
	])
	AS_IF([test "x$with_snmp" = xyes && test "x$enable_snmp" = xno],
	      [AC_MSG_ERROR([SNMP module requested but $bb_snmp_summary])])
	AC_SUBST([NETSNMP_CFLAGS])
	AC_SUBST([NETSNMP_AGENT_LIBS])
	AM_CONDITIONAL([ENABLE_SNMP], [test "x$enable_snmp" = xyes])
])
