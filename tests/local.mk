## tests/ fragment of the non-recursive Makefile.am
# Unit tests (cmocka), one program per module; also run under valgrind by
# 'make check-valgrind'.
UNIT_TESTS =
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SYSTEMD_CFLAGS)
UNIT_LIBS = $(CMOCKA_LIBS)
EXTRA_DIST += tests/valgrind.sh tests/valgrind.supp tests/integration/lib.sh
include tests/unit/local.mk
include tests/integration/local.mk
include tests/bench/local.mk
