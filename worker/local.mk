## worker/ fragment of the non-recursive Makefile.am
