## docs/ fragment of the non-recursive Makefile.am
dist_doc_DATA += docs/stream-format.md

# The documents README.md points at.
dist_doc_DATA += \
	docs/architecture.md \
	docs/admin-guide.md \
	docs/dbus-api.md \
	docs/env.md \
	docs/performance.md \
	docs/plugin-guide.md \
	docs/reliability.md \
	docs/reliability-fuzzing.md

# Manual pages.
dist_man_MANS += \
	man/migbrokerd.8 \
	man/migbrokerctl.1 \
	man/migbroker-worker.8 \
	man/migbroker-libvirt-events.8 \
	man/migbroker-simagent.1 \
	man/migbroker-policy.5

# bash completion, installed as $(bashcompletiondir)/migbrokerctl
dist_bashcompletion_DATA = data/bash-completion/migbrokerctl

# The completion, driven through COMP_WORDS/COMP_CWORD (skipped without bash).
TESTS += tests/completion.sh
dist_noinst_SCRIPTS += tests/completion.sh
