## data/ fragment of the non-recursive Makefile.am
pkgconfig_DATA += data/migbroker-plugin.pc
EXTRA_DIST += data/migbroker-plugin.pc.in
DISTCLEANFILES += data/migbroker-plugin.pc

# D-Bus policy, activation, systemd unit, sysusers.d
dbussystemconf_DATA = data/org.migbroker1.conf
dbussystemservicedir = $(datadir)/dbus-1/system-services
dbussystemservice_DATA = data/org.migbroker1.service
systemdsystemunit_DATA = data/migbrokerd.service
sysusers_DATA = data/sysusers.d/migbroker.conf
EXTRA_DIST += data/org.migbroker1.conf data/migbrokerd.service.in data/org.migbroker1.service.in data/sysusers.d/migbroker.conf
CLEANFILES += data/migbrokerd.service data/org.migbroker1.service

data/%.service: $(srcdir)/data/%.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) data && sed -e 's|@sbindir[@]|$(sbindir)|g' $< > $@
include hooks/local.mk

# AppArmor: lets libvirt's confined QEMU reach the per-domain buses (and the shim).
apparmorabstractionsdir = $(sysconfdir)/apparmor.d/abstractions/libvirt-qemu.d
apparmorabstractions_DATA = data/apparmor/migbroker
EXTRA_DIST += data/apparmor/migbroker
