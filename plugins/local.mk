## plugins/ fragment of the non-recursive Makefile.am: every plugin folder
## brings its own fragment.

# Plugins export only the ABI (and QEMU loads them too: no stray symbols), and
# must resolve every symbol against what they link (libc only).
PLUGIN_EXPORT_FLAGS = \
	-export-symbols-regex '^(vfio_lm_get_plugin_version|vfio_lm_get_plugin_ops|migbroker_get_plugin_info)$$' \
	-Wl,-z,defs

include plugins/simdev/local.mk
include plugins/testing/local.mk
include plugins/template/local.mk
include plugins/qemu-shim/local.mk
include tests/integration/simdev.mk

# The top Makefile.am deletes installed plugins' .la files (plugins-remove-la),
# so libtool's uninstall no longer knows their .so: remove those here.
plugins-uninstall-so:
	@for la in $(plugin_LTLIBRARIES); do \
		so=`basename "$$la" .la`.so; \
		echo " rm -f $(DESTDIR)$(plugindir)/$$so"; \
		rm -f "$(DESTDIR)$(plugindir)/$$so"; \
	done
uninstall_hooks += plugins-uninstall-so
.PHONY: plugins-uninstall-so
