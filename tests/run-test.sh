#!/bin/sh
# Runs one `make check` test. With SG_VALGRIND=1, a compiled test runs under valgrind (Check
# without fork, so leaks are seen) and fails on any memory error or leak; scripts handle
# SG_VALGRIND themselves (they wrap the servers they start).
case "$1" in
*.sh) exec "$@" ;;
esac
if [ "${SG_VALGRIND:-}" = 1 ]; then
	CK_FORK=no exec valgrind --quiet --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		--track-fds=no "$@"
fi
exec "$@"
