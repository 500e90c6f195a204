## tests/unit: cmocka programs, one per module

check_PROGRAMS += tests/unit/test-crc32c tests/unit/test-stream
TESTS += tests/unit/test-crc32c tests/unit/test-stream
UNIT_TESTS += tests/unit/test-crc32c tests/unit/test-stream

tests_unit_test_crc32c_SOURCES = tests/unit/test-crc32c.c
tests_unit_test_crc32c_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_crc32c_LDADD = common/libmbcore.la $(UNIT_LIBS)

tests_unit_test_stream_SOURCES = tests/unit/test-stream.c
tests_unit_test_stream_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_stream_LDADD = common/libmbcore.la $(UNIT_LIBS)
