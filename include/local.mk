## include/: the public plugin SDK, installed as <migbroker/plugin.h>.
migbrokerincludedir = $(includedir)/migbroker
migbrokerinclude_HEADERS = include/migbroker/plugin.h
