## docs/ fragment of the non-recursive Makefile.am
dist_doc_DATA += docs/stream-format.md
