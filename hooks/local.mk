## hooks/: migbroker-hook, the libvirt qemu hook (interface contract §8).
## Included from data/local.mk.

# The domain XML reader (contract §8 metadata, hostdevs), shared by the hook and
# migbrokerctl's domain commands: libxml2, no D-Bus.
noinst_LTLIBRARIES += hooks/libmbdomainxml.la
hooks_libmbdomainxml_la_SOURCES = hooks/domain-xml.c hooks/domain-xml.h
hooks_libmbdomainxml_la_CFLAGS = $(AM_CFLAGS) $(XML_CFLAGS) $(GLIB_CFLAGS)
DOMAINXML_LIBS = hooks/libmbdomainxml.la common/libmbcore.la $(XML_LIBS) $(GLIB_LIBS)

# The hook's logic as a convenience library, so the unit tests link the same code.
noinst_LTLIBRARIES += hooks/libmbhook.la
hooks_libmbhook_la_SOURCES = \
	hooks/hook-config.c hooks/hook-config.h \
	hooks/hook-actions.c hooks/hook-actions.h \
	hooks/hook-bus.c hooks/hook-bus.h
hooks_libmbhook_la_CFLAGS = $(AM_CFLAGS) $(XML_CFLAGS) $(SYSTEMD_CFLAGS) $(GLIB_CFLAGS)

HOOK_LIBS = hooks/libmbhook.la $(DOMAINXML_LIBS) $(SYSTEMD_LIBS)

pkglibexec_PROGRAMS += hooks/migbroker-hook
hooks_migbroker_hook_SOURCES = hooks/hook-main.c
hooks_migbroker_hook_CFLAGS = $(AM_CFLAGS) $(XML_CFLAGS) $(SYSTEMD_CFLAGS) $(GLIB_CFLAGS)
hooks_migbroker_hook_LDADD = $(HOOK_LIBS)

# What libvirtd runs: only libc; exits 0 at once for a domain XML that can
# hold no device of ours, else runs migbroker-hook (beside it) on the XML.
pkglibexec_PROGRAMS += hooks/migbroker-hook-gate
hooks_migbroker_hook_gate_SOURCES = hooks/hook-gate.c
hooks_migbroker_hook_gate_CFLAGS = $(AM_CFLAGS)

dist_man_MANS += man/migbroker-hook.8
dist_doc_DATA += data/hook.conf.example

# libvirtd runs every executable of hooks/qemu.d/ (after hooks/qemu) in
# alphabetical order: link the hook's gate there. The link names the installed path
# (without DESTDIR), so that it is right in a package too.
HOOK_LINK = $(libvirthookdir)/qemu.d/50-migbroker
hooks-install-link:
	$(MKDIR_P) '$(DESTDIR)$(libvirthookdir)/qemu.d'
	rm -f '$(DESTDIR)$(HOOK_LINK)'
	ln -s '$(pkglibexecdir)/migbroker-hook-gate' '$(DESTDIR)$(HOOK_LINK)'
hooks-uninstall-link:
	rm -f '$(DESTDIR)$(HOOK_LINK)'
install_exec_hooks += hooks-install-link
uninstall_hooks += hooks-uninstall-link
.PHONY: hooks-install-link hooks-uninstall-link

# libvirthookdir is /etc/libvirt/hooks, outside the prefix: distcheck must
# not write there.
AM_DISTCHECK_CONFIGURE_FLAGS = --with-libvirt-hookdir=$$dc_install_base/etc/libvirt/hooks

include tests/unit/hook.mk

# libFuzzer target (make fuzz; tests/fuzz/local.mk): the domain XML parser.
FUZZ_TARGETS += domain-xml:hooks/domain-xml.c,common/bdf.c
FUZZ_CFLAGS += $(XML_CFLAGS) -I$(top_srcdir)/hooks
FUZZ_LIBS += $(XML_LIBS)
