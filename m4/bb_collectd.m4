dnl BB_CHECK_COLLECTD: the collectd plugin needs collectd's headers (collectd-dev).
AC_DEFUN([BB_CHECK_COLLECTD], [
	AC_ARG_WITH([collectd],
		[AS_HELP_STRING([--with-collectd=yes|no|auto|DIR], [build the collectd plugin; DIR holds collectd's headers (default auto, /usr/include/collectd)])],
		[], [with_collectd=auto])
	AC_ARG_WITH([collectd-plugindir],
		[AS_HELP_STRING([--with-collectd-plugindir=DIR], [where ebpf.so is installed (default: collectd's own, /usr/lib/collectd)])],
		[collectd_plugindir="$withval"], [collectd_plugindir=/usr/lib/collectd])
	enable_collectd=no
	bb_collectd_summary="no"
	COLLECTD_CPPFLAGS=""
	AS_CASE(["$with_collectd"],
		[no], [bb_collectd_summary="no (disabled with --without-collectd)"],
		[yes|auto], [bb_collectd_incdir=/usr/include/collectd],
		[bb_collectd_incdir="$with_collectd"])
	AS_IF([test "x$with_collectd" != xno], [
		bb_save_CPPFLAGS="$CPPFLAGS"
		COLLECTD_CPPFLAGS="-DHAVE_CONFIG_H -I$bb_collectd_incdir -I$bb_collectd_incdir/core -I$bb_collectd_incdir/core/daemon"
		CPPFLAGS="$CPPFLAGS $COLLECTD_CPPFLAGS"
		AC_MSG_CHECKING([for collectd plugin headers in $bb_collectd_incdir])
		AS_IF([test -r "$bb_collectd_incdir/core/daemon/plugin.h" && test -r "$bb_collectd_incdir/core/config.h"],
		      [enable_collectd=yes; bb_collectd_summary="yes (headers $bb_collectd_incdir, installs to $collectd_plugindir)"],
		      [bb_collectd_summary="no (collectd headers not found in $bb_collectd_incdir: apt-get install collectd-dev)"])
		AC_MSG_RESULT([$enable_collectd])
		CPPFLAGS="$bb_save_CPPFLAGS"
	])
	AS_IF([test "x$with_collectd" != xno && test "x$with_collectd" != xauto && test "x$enable_collectd" = xno],
	      [AC_MSG_ERROR([collectd plugin requested but $bb_collectd_summary])])
	AC_PATH_PROGS([COLLECTD], [collectd], [no], [$PATH:/usr/sbin:/sbin])
	AC_SUBST([COLLECTD_CPPFLAGS])
	AC_SUBST([collectd_plugindir])
	AM_CONDITIONAL([ENABLE_COLLECTD], [test "x$enable_collectd" = xyes])
])
