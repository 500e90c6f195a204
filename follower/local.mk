## follower/: migbroker-libvirt-events, the broker's read-only libvirt
## connection in a process of its own (the only program of the broker's side
## that links libvirt), and the line protocol it speaks to the broker.
pkglibexec_PROGRAMS += follower/migbroker-libvirt-events
follower_migbroker_libvirt_events_SOURCES = \
	follower/follower-main.c \
	follower/follower-proto.c follower/follower-proto.h
follower_migbroker_libvirt_events_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) $(LIBVIRT_CFLAGS)
follower_migbroker_libvirt_events_LDADD = common/libmbcore.la $(SYSTEMD_LIBS) $(LIBVIRT_LIBS)
