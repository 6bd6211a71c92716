dnl BB_CHECK_LIBYAML: libyaml is required by the config parser.
AC_DEFUN([BB_CHECK_LIBYAML], [
	PKG_CHECK_MODULES([LIBYAML], [yaml-0.1], [],
		[AC_MSG_ERROR([libyaml not found (Debian: apt-get install libyaml-dev)])])
	bb_libyaml_version=`$PKG_CONFIG --modversion yaml-0.1`
])
