dnl BB_CHECK_CMOCKA: unit tests use cmocka.
AC_DEFUN([BB_CHECK_CMOCKA], [
	PKG_CHECK_MODULES([CMOCKA], [cmocka >= 1.1],
		[have_cmocka=yes; bb_cmocka_summary="yes (cmocka)"],
		[have_cmocka=no; bb_cmocka_summary="no (cmocka not found: apt-get install libcmocka-dev)"])
	AM_CONDITIONAL([HAVE_CMOCKA], [test "x$have_cmocka" = xyes])
])
