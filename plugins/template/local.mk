## plugins/template: the plugin a vendor copies. Built here (not installed)
## so it never rots; plugins/template/Makefile builds it standalone.
noinst_LTLIBRARIES += plugins/template/template.la
plugins_template_template_la_SOURCES = plugins/template/template.c
plugins_template_template_la_LDFLAGS = $(AM_LDFLAGS) $(TEST_PLUGIN_LINK_FLAGS) $(PLUGIN_EXPORT_FLAGS)

EXTRA_DIST += plugins/template/README.md plugins/template/Makefile
