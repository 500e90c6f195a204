## ctl/: migbrokerctl, the admin CLI (included from policy/local.mk).
bin_PROGRAMS += ctl/migbrokerctl
ctl_migbrokerctl_SOURCES = \
	ctl/migbrokerctl.c \
	ctl/ctl.h \
	ctl/ctl-json.c ctl/ctl-json.h \
	ctl/ctl-bus.c ctl/ctl-bus.h \
	ctl/ctl-policy.c ctl/ctl-policy.h \
	ctl/ctl-device.c ctl/ctl-device.h \
	ctl/ctl-stream.c ctl/ctl-stream.h \
	ctl/ctl-monitor.c ctl/ctl-monitor.h \
	ctl/ctl-plugin-check.c ctl/ctl-plugin-check.h \
	ctl/plugin-conformance.c ctl/plugin-conformance.h \
	ctl/plugin-abi.c ctl/plugin-abi.h \
	ctl/v1-moves.c ctl/v1-moves.h \
	ctl/op-timing.c ctl/op-timing.h \
	ctl/stream-payload.c ctl/stream-payload.h \
	ctl/ctl-domain.c ctl/ctl-domain.h \
	ctl/domain-edit.c ctl/domain-edit.h
ctl_migbrokerctl_CPPFLAGS = $(MBPOLICY_CPPFLAGS) -I$(top_srcdir)/ctl -I$(top_srcdir)/worker -I$(top_srcdir)/hooks
ctl_migbrokerctl_CFLAGS = $(MBPOLICY_CFLAGS) $(JSON_CFLAGS) $(XML_CFLAGS) $(LIBVIRT_CFLAGS)
ctl_migbrokerctl_LDADD = $(MBPOLICY_LIBS) worker/libmbworkerclient.la $(DOMAINXML_LIBS) $(SYSTEMD_LIBS) \
	$(JSON_LIBS) $(LIBVIRT_LIBS)
