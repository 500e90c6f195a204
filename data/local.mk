## data/ fragment of the non-recursive Makefile.am
pkgconfig_DATA += data/migbroker-plugin.pc
EXTRA_DIST += data/migbroker-plugin.pc.in
DISTCLEANFILES += data/migbroker-plugin.pc
