#!/bin/sh
# Regenerates the autotools build files from configure.ac and Makefile.am.
set -e
cd "$(dirname "$0")"
# libtoolize fills m4/ (not kept in git); aclocal warns when it is missing before that.
mkdir -p m4
autoreconf --install --force --warnings=all
