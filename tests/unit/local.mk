## tests/unit: cmocka programs, one per module

check_PROGRAMS += tests/unit/test-crc32c
TESTS += tests/unit/test-crc32c
UNIT_TESTS += tests/unit/test-crc32c

tests_unit_test_crc32c_SOURCES = tests/unit/test-crc32c.c
tests_unit_test_crc32c_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_crc32c_LDADD = common/libmbcore.la $(UNIT_LIBS)
