dnl BB_CHECK_LIBBPF: libbpf >= 1.0 is required by the core.
AC_DEFUN([BB_CHECK_LIBBPF], [
	PKG_CHECK_MODULES([LIBBPF], [libbpf >= 1.0], [],
		[AC_MSG_ERROR([libbpf >= 1.0 not found (Debian: apt-get install libbpf-dev)])])
	bb_libbpf_version=`$PKG_CONFIG --modversion libbpf`
	bb_save_CFLAGS="$CFLAGS"
	bb_save_LIBS="$LIBS"
	CFLAGS="$CFLAGS $LIBBPF_CFLAGS"
	LIBS="$LIBS $LIBBPF_LIBS"
	AC_CHECK_FUNCS([bpf_map_lookup_batch bpf_program__set_autoload libbpf_probe_bpf_prog_type])
	CFLAGS="$bb_save_CFLAGS"
	LIBS="$bb_save_LIBS"
])
