#!/bin/sh
# Runs one unit test under valgrind memcheck: any error or definite leak fails it.
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --track-fds=no --trace-children=no \
    --suppressions="$(dirname "$0")/valgrind.supp" "$@"
