## tests/unit: cmocka programs, one per module. Each is added to
## check_PROGRAMS, TESTS and UNIT_TESTS (the latter for check-valgrind).
check_PROGRAMS += tests/unit/test-fsm
TESTS += tests/unit/test-fsm
UNIT_TESTS += tests/unit/test-fsm
tests_unit_test_fsm_SOURCES = tests/unit/test-fsm.c
tests_unit_test_fsm_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_fsm_LDADD = common/libmbcore.la $(UNIT_LIBS)
