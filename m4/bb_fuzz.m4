dnl BB_CHECK_FUZZ: the libFuzzer target needs clang's -fsanitize=fuzzer (libclang-rt-*-dev).
AC_DEFUN([BB_CHECK_FUZZ], [
	AC_ARG_VAR([FUZZ_CC], [clang used to build the libFuzzer targets])
	AC_PATH_PROGS([FUZZ_CC], [clang clang-16 clang-15 clang-14], [no])
	bb_fuzz_summary="no (clang not found)"
	have_fuzz=no
	AS_IF([test "x$FUZZ_CC" != xno], [
		AC_MSG_CHECKING([whether $FUZZ_CC supports -fsanitize=fuzzer])
		echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' > conftest-fuzz.c
		AS_IF([$FUZZ_CC -fsanitize=fuzzer conftest-fuzz.c -o conftest-fuzz >/dev/null 2>&1],
		      [have_fuzz=yes; bb_fuzz_summary="yes (make fuzz)"],
		      [bb_fuzz_summary="no ($FUZZ_CC lacks -fsanitize=fuzzer: apt-get install libclang-rt-14-dev)"])
		rm -f conftest-fuzz.c conftest-fuzz
		AC_MSG_RESULT([$have_fuzz])
	])
	AM_CONDITIONAL([HAVE_FUZZ], [test "x$have_fuzz" = xyes])
])
