## broker/: migbrokerd.
sbin_PROGRAMS += broker/migbrokerd
broker_migbrokerd_SOURCES = \
	broker/broker-main.c \
	broker/manager.c broker/manager.h \
	broker/manager-dbus.c broker/manager-dbus.h \
	broker/device.c broker/device.h \
	broker/device-dbus.c broker/device-dbus.h \
	broker/auth.c broker/auth.h \
	broker/probe.c broker/probe.h \
	broker/domain-bus.c broker/domain-bus.h \
	broker/vmstate.c broker/vmstate.h \
	broker/libvirt-events.c broker/libvirt-events.h \
	follower/follower-proto.c follower/follower-proto.h \
	broker/runtime-state.c broker/runtime-state.h
broker_migbrokerd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker -I$(top_srcdir)/policy -I$(top_srcdir)/follower
broker_migbrokerd_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) $(GLIB_CFLAGS) $(YAML_CFLAGS)
# No libvirt here: migbroker-libvirt-events (follower/) holds the connection.
broker_migbrokerd_LDADD = policy/libmbpolicy.la worker/libmbworkerclient.la common/libmbcore.la \
	$(SYSTEMD_LIBS) $(GLIB_LIBS) $(YAML_LIBS)
