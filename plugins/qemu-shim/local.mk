## plugins/qemu-shim: migbroker-qemu-shim.so, the plugin QEMU loads in place of
## a vendor plugin; it forwards every op to migbrokerd (README.md).

# The shim's pure logic (argument grammar, state and error mapping), with the
# three libmbcore modules it needs compiled in: the shim links libsystemd and
# libc, nothing of ours. Also linked by tests/unit/test-qemu-shim.
noinst_LTLIBRARIES += plugins/qemu-shim/libshimcore.la
plugins_qemu_shim_libshimcore_la_SOURCES = \
	plugins/qemu-shim/shim-args.c plugins/qemu-shim/shim-args.h \
	plugins/qemu-shim/shim-map.c plugins/qemu-shim/shim-map.h \
	common/error.c common/fsm.c common/uuid.c
plugins_qemu_shim_libshimcore_la_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)

plugin_LTLIBRARIES += plugins/qemu-shim/migbroker-qemu-shim.la
plugins_qemu_shim_migbroker_qemu_shim_la_SOURCES = \
	plugins/qemu-shim/qemu-shim.c \
	plugins/qemu-shim/shim-call.c plugins/qemu-shim/shim-call.h
plugins_qemu_shim_migbroker_qemu_shim_la_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
plugins_qemu_shim_migbroker_qemu_shim_la_LIBADD = plugins/qemu-shim/libshimcore.la $(SYSTEMD_LIBS)
plugins_qemu_shim_migbroker_qemu_shim_la_LDFLAGS = $(AM_LDFLAGS) $(PLUGIN_LINK_FLAGS) $(PLUGIN_EXPORT_FLAGS)

EXTRA_DIST += plugins/qemu-shim/README.md
