dnl BB_CHECK_BPF_TOOLCHAIN: clang (-target bpf) and bpftool build the shipped
dnl CO-RE objects. Without them the core still builds, but no programs ship.
AC_DEFUN([BB_CHECK_BPF_TOOLCHAIN], [
	AC_ARG_WITH([bpf-programs],
		[AS_HELP_STRING([--with-bpf-programs=yes|no|auto], [build the shipped BPF programs (default auto)])],
		[], [with_bpf_programs=auto])
	AC_ARG_VAR([BPF_CLANG], [clang used to compile BPF programs])
	AC_ARG_VAR([BPFTOOL], [bpftool used to generate vmlinux.h])
	AC_PATH_PROGS([BPF_CLANG], [clang clang-16 clang-15 clang-14], [no])
	AC_PATH_PROGS([BPFTOOL], [bpftool], [no], [$PATH:/usr/sbin:/sbin])
	bb_bpf_summary="no"
	enable_bpf_programs=no
	AS_IF([test "x$with_bpf_programs" = xno], [bb_bpf_summary="no (disabled with --without-bpf-programs)"],
	      [test "x$BPF_CLANG" = xno], [bb_bpf_summary="no (clang not found: apt-get install clang llvm)"],
	      [
		enable_bpf_programs=yes
		AS_IF([test "x$BPFTOOL" != xno && test -r /sys/kernel/btf/vmlinux],
		      [bb_bpf_summary="yes (clang $BPF_CLANG, vmlinux.h from /sys/kernel/btf/vmlinux)"],
		      [bb_bpf_summary="yes (clang $BPF_CLANG, checked-in fallback vmlinux.h)"])
	      ])
	AS_IF([test "x$with_bpf_programs" = xyes && test "x$enable_bpf_programs" = xno],
	      [AC_MSG_ERROR([BPF programs requested but $bb_bpf_summary])])
	AC_ARG_WITH([configdir],
		[AS_HELP_STRING([--with-configdir=DIR], [where NAME.yaml + NAME.bpf.o are installed (default DATADIR/bpfbridge/configs)])],
		[bb_configdir="$withval"], [bb_configdir='${datadir}/bpfbridge/configs'])
	AC_SUBST([configsdir], [$bb_configdir])
	AM_CONDITIONAL([ENABLE_BPF_PROGRAMS], [test "x$enable_bpf_programs" = xyes])
	AM_CONDITIONAL([HAVE_BPFTOOL], [test "x$BPFTOOL" != xno])
])
