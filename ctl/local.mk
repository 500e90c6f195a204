## ctl/: migbrokerctl, the admin CLI (included from policy/local.mk).
bin_PROGRAMS += migbrokerctl
migbrokerctl_SOURCES = \
	ctl/migbrokerctl.c \
	ctl/ctl.h \
	ctl/ctl-json.c ctl/ctl-json.h \
	ctl/ctl-policy.c ctl/ctl-policy.h
migbrokerctl_CPPFLAGS = $(MBPOLICY_CPPFLAGS) -I$(top_srcdir)/ctl
migbrokerctl_CFLAGS = $(MBPOLICY_CFLAGS)
migbrokerctl_LDADD = $(MBPOLICY_LIBS) common/libmbcore.la $(SYSTEMD_LIBS)
