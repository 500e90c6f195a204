## tests/unit: cmocka programs, one per module

# simdev device core and the testing plugin's argument parser
SIMDEV_UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/simdev -I$(top_srcdir)/plugins/testing
SIMDEV_UNIT_TESTS = \
	tests/unit/test-simdev-parse \
	tests/unit/test-simdev-stream \
	tests/unit/test-simdev-function \
	tests/unit/test-testing-args
check_PROGRAMS += $(SIMDEV_UNIT_TESTS)
TESTS += $(SIMDEV_UNIT_TESTS)
UNIT_TESTS += $(SIMDEV_UNIT_TESTS)

tests_unit_test_simdev_parse_SOURCES = tests/unit/test-simdev-parse.c
tests_unit_test_simdev_parse_CPPFLAGS = $(SIMDEV_UNIT_CPPFLAGS)
tests_unit_test_simdev_parse_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_simdev_parse_LDADD = plugins/simdev/libsimdevcore.la $(UNIT_LIBS)

tests_unit_test_simdev_stream_SOURCES = tests/unit/test-simdev-stream.c
tests_unit_test_simdev_stream_CPPFLAGS = $(SIMDEV_UNIT_CPPFLAGS)
tests_unit_test_simdev_stream_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_simdev_stream_LDADD = plugins/simdev/libsimdevcore.la $(UNIT_LIBS)

tests_unit_test_simdev_function_SOURCES = \
	tests/unit/test-simdev-function.c \
	plugins/simdev/simagent-dirtier.c plugins/simdev/simagent-dirtier.h
tests_unit_test_simdev_function_CPPFLAGS = $(SIMDEV_UNIT_CPPFLAGS)
tests_unit_test_simdev_function_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_simdev_function_LDADD = plugins/simdev/libsimdevcore.la $(UNIT_LIBS)

tests_unit_test_testing_args_SOURCES = \
	tests/unit/test-testing-args.c \
	plugins/testing/testing-args.c plugins/testing/testing-args.h
tests_unit_test_testing_args_CPPFLAGS = $(SIMDEV_UNIT_CPPFLAGS)
tests_unit_test_testing_args_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_testing_args_LDADD = plugins/simdev/libsimdevcore.la $(UNIT_LIBS)
