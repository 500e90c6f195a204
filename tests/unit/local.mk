## tests/unit: cmocka programs, one per module. Each is added to
## check_PROGRAMS, TESTS and UNIT_TESTS (the latter for check-valgrind).
check_PROGRAMS += tests/unit/test-fsm
TESTS += tests/unit/test-fsm
UNIT_TESTS += tests/unit/test-fsm
tests_unit_test_fsm_SOURCES = tests/unit/test-fsm.c
tests_unit_test_fsm_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_fsm_LDADD = common/libmbcore.la $(UNIT_LIBS)

## tests/unit: cmocka programs, one per module

# ---- policy engine (policy/, common/bdf) ----------------------------------
POLICY_UNIT_TESTS = \
	tests/unit/test-bdf \
	tests/unit/test-policy-diag \
	tests/unit/test-policy-parse \
	tests/unit/test-policy-match \
	tests/unit/test-policy-load
UNIT_TESTS += $(POLICY_UNIT_TESTS)
check_PROGRAMS += $(POLICY_UNIT_TESTS)
TESTS += $(POLICY_UNIT_TESTS)
POLICY_UNIT_CPPFLAGS = $(MBPOLICY_CPPFLAGS) -I$(top_srcdir)/tests/unit
POLICY_UNIT_CFLAGS = $(UNIT_CFLAGS) $(GLIB_CFLAGS)
POLICY_UNIT_LIBS = $(UNIT_LIBS) $(MBPOLICY_LIBS) common/libmbcore.la $(SYSTEMD_LIBS)
tests_unit_test_bdf_SOURCES = tests/unit/test-bdf.c
tests_unit_test_bdf_CPPFLAGS = $(POLICY_UNIT_CPPFLAGS)
tests_unit_test_bdf_CFLAGS = $(POLICY_UNIT_CFLAGS)
tests_unit_test_bdf_LDADD = $(POLICY_UNIT_LIBS)
tests_unit_test_policy_diag_SOURCES = tests/unit/test-policy-diag.c
tests_unit_test_policy_diag_CPPFLAGS = $(POLICY_UNIT_CPPFLAGS)
tests_unit_test_policy_diag_CFLAGS = $(POLICY_UNIT_CFLAGS)
tests_unit_test_policy_diag_LDADD = $(POLICY_UNIT_LIBS)
tests_unit_test_policy_parse_SOURCES = tests/unit/test-policy-parse.c tests/unit/policy-test-util.h
tests_unit_test_policy_parse_CPPFLAGS = $(POLICY_UNIT_CPPFLAGS)
tests_unit_test_policy_parse_CFLAGS = $(POLICY_UNIT_CFLAGS)
tests_unit_test_policy_parse_LDADD = $(POLICY_UNIT_LIBS)
tests_unit_test_policy_match_SOURCES = tests/unit/test-policy-match.c tests/unit/policy-test-util.h
tests_unit_test_policy_match_CPPFLAGS = $(POLICY_UNIT_CPPFLAGS)
tests_unit_test_policy_match_CFLAGS = $(POLICY_UNIT_CFLAGS)
tests_unit_test_policy_match_LDADD = $(POLICY_UNIT_LIBS)
tests_unit_test_policy_load_SOURCES = tests/unit/test-policy-load.c tests/unit/policy-test-util.h
tests_unit_test_policy_load_CPPFLAGS = $(POLICY_UNIT_CPPFLAGS)
tests_unit_test_policy_load_CFLAGS = $(POLICY_UNIT_CFLAGS)
tests_unit_test_policy_load_LDADD = $(POLICY_UNIT_LIBS)

# ---- stream format, crc32c ---------------------------------------------------
check_PROGRAMS += tests/unit/test-crc32c tests/unit/test-stream
TESTS += tests/unit/test-crc32c tests/unit/test-stream
UNIT_TESTS += tests/unit/test-crc32c tests/unit/test-stream

tests_unit_test_crc32c_SOURCES = tests/unit/test-crc32c.c
tests_unit_test_crc32c_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_crc32c_LDADD = common/libmbcore.la $(UNIT_LIBS)

tests_unit_test_stream_SOURCES = tests/unit/test-stream.c
tests_unit_test_stream_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_stream_LDADD = common/libmbcore.la $(UNIT_LIBS)

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

# ---- worker (worker/) ----------------------------------------------------------
WORKER_UNIT_TESTS = tests/unit/test-worker-stream tests/unit/test-worker-plugin tests/unit/test-fd-util
UNIT_TESTS += $(WORKER_UNIT_TESTS)
check_PROGRAMS += $(WORKER_UNIT_TESTS)
TESTS += $(WORKER_UNIT_TESTS)
tests_unit_test_worker_stream_SOURCES = tests/unit/test-worker-stream.c worker/worker-stream.c worker/gift-pages.c
tests_unit_test_worker_stream_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
tests_unit_test_worker_stream_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_worker_stream_LDADD = common/libmbcore.la $(UNIT_LIBS)
tests_unit_test_worker_plugin_SOURCES = tests/unit/test-worker-plugin.c worker/worker-plugin.c
tests_unit_test_worker_plugin_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
tests_unit_test_worker_plugin_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_worker_plugin_LDADD = common/libmbcore.la $(UNIT_LIBS) $(DL_LIBS)
tests_unit_test_fd_util_SOURCES = tests/unit/test-fd-util.c
tests_unit_test_fd_util_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_fd_util_LDADD = common/libmbcore.la $(UNIT_LIBS)

# ---- qemu shim (plugins/qemu-shim) ------------------------------------------------
check_PROGRAMS += tests/unit/test-qemu-shim
TESTS += tests/unit/test-qemu-shim
UNIT_TESTS += tests/unit/test-qemu-shim
tests_unit_test_qemu_shim_SOURCES = tests/unit/test-qemu-shim.c
tests_unit_test_qemu_shim_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/qemu-shim
tests_unit_test_qemu_shim_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_qemu_shim_LDADD = plugins/qemu-shim/libshimcore.la $(UNIT_LIBS) $(SYSTEMD_LIBS)
# ---- plugin check (ctl/): the pure parts of the conformance suite ---------------
PLUGIN_CHECK_UNIT_TESTS = \
	tests/unit/test-v1-moves \
	tests/unit/test-op-timing \
	tests/unit/test-plugin-abi \
	tests/unit/test-stream-payload
check_PROGRAMS += $(PLUGIN_CHECK_UNIT_TESTS)
TESTS += $(PLUGIN_CHECK_UNIT_TESTS)
UNIT_TESTS += $(PLUGIN_CHECK_UNIT_TESTS)
PLUGIN_CHECK_UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/ctl -I$(top_srcdir)/worker
tests_unit_test_v1_moves_SOURCES = tests/unit/test-v1-moves.c ctl/v1-moves.c ctl/v1-moves.h
tests_unit_test_v1_moves_CPPFLAGS = $(PLUGIN_CHECK_UNIT_CPPFLAGS)
tests_unit_test_v1_moves_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_v1_moves_LDADD = common/libmbcore.la $(UNIT_LIBS)
tests_unit_test_op_timing_SOURCES = tests/unit/test-op-timing.c ctl/op-timing.c ctl/op-timing.h
tests_unit_test_op_timing_CPPFLAGS = $(PLUGIN_CHECK_UNIT_CPPFLAGS)
tests_unit_test_op_timing_CFLAGS = $(UNIT_CFLAGS) $(GLIB_CFLAGS)
tests_unit_test_op_timing_LDADD = $(UNIT_LIBS) $(GLIB_LIBS)
tests_unit_test_plugin_abi_SOURCES = tests/unit/test-plugin-abi.c ctl/plugin-abi.c ctl/plugin-abi.h worker/worker-plugin.c
tests_unit_test_plugin_abi_CPPFLAGS = $(PLUGIN_CHECK_UNIT_CPPFLAGS)
tests_unit_test_plugin_abi_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_plugin_abi_LDADD = common/libmbcore.la $(UNIT_LIBS) $(DL_LIBS)
tests_unit_test_stream_payload_SOURCES = tests/unit/test-stream-payload.c ctl/stream-payload.c ctl/stream-payload.h
tests_unit_test_stream_payload_CPPFLAGS = $(PLUGIN_CHECK_UNIT_CPPFLAGS)
tests_unit_test_stream_payload_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_stream_payload_LDADD = common/libmbcore.la $(UNIT_LIBS)

# ---- domain enable|disable|show (ctl/): the XML edits -----------------------------
check_PROGRAMS += tests/unit/test-domain-edit
TESTS += tests/unit/test-domain-edit
UNIT_TESTS += tests/unit/test-domain-edit
tests_unit_test_domain_edit_SOURCES = tests/unit/test-domain-edit.c ctl/domain-edit.c ctl/domain-edit.h
tests_unit_test_domain_edit_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/ctl -I$(top_srcdir)/hooks
tests_unit_test_domain_edit_CFLAGS = $(UNIT_CFLAGS) $(XML_CFLAGS) $(GLIB_CFLAGS)
tests_unit_test_domain_edit_LDADD = $(DOMAINXML_LIBS) $(UNIT_LIBS)

# ---- the libvirt events follower's line protocol (follower/, common/uuid) --
check_PROGRAMS += tests/unit/test-follower-proto
TESTS += tests/unit/test-follower-proto
UNIT_TESTS += tests/unit/test-follower-proto
tests_unit_test_follower_proto_SOURCES = tests/unit/test-follower-proto.c \
	follower/follower-proto.c follower/follower-proto.h
tests_unit_test_follower_proto_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/follower
tests_unit_test_follower_proto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_follower_proto_LDADD = common/libmbcore.la $(UNIT_LIBS) $(SYSTEMD_LIBS)
