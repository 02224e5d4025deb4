/* replay.c - runs inputs through a fuzz target without libFuzzer, so that `make check`
 * replays every seed and every past crash with the ordinary compiler (and valgrind).
 *
 * With arguments, replays those files (or every file in those folders). Without, replays
 * $SG_TOP_SRCDIR/fuzz/corpus/TARGET and $SG_TOP_SRCDIR/fuzz/regressions/TARGET, where
 * TARGET is FUZZ_TARGET_NAME, fixed at build time. A target that breaks an invariant
 * aborts, which fails the test; the last file named on stderr is the one. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_TARGET_NAME
#error "FUZZ_TARGET_NAME (eio, eio3, sio, config, mapping) must be defined"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;
		if (len == cap) {
			unsigned char *nb = realloc(buf, cap ? cap * 2 : 4096);
			if (!nb) {
				fclose(f);
				free(buf);
				fprintf(stderr, "replay: %s: out of memory\n", path);
				return -1;
			}
			buf = nb;
			cap = cap ? cap * 2 : 4096;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	/* An exact-size copy, so that a read past the end is a heap error under valgrind. */
	{
		unsigned char *exact = malloc(len ? len : 1);
		if (!exact) {
			free(buf);
			return -1;
		}
		if (len)
			memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays a file, or every regular file of a folder in name order. Returns the count or -1. */
static long replay_path(const char *path, int must_exist)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	long done = 0;

	if (stat(path, &st) != 0) {
		if (!must_exist && errno == ENOENT)
			return 0;
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) ? -1 : 1;
	if (!(d = opendir(path))) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		char *full;
		size_t len;
		if (e->d_name[0] == '.')
			continue;
		len = strlen(path) + strlen(e->d_name) + 2;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*names));
			if (!nn)
				break;
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		if (!(full = malloc(len)))
			break;
		snprintf(full, len, "%s/%s", path, e->d_name);
		names[n++] = full;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		if (done >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			done = replay_file(names[i]) ? -1 : done + 1;
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0, n;

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			if ((n = replay_path(argv[i], 1)) < 0)
				return 1;
			total += n;
		}
	} else {
		const char *top = getenv("SG_TOP_SRCDIR");
		char path[4096];

		if (!top || !top[0]) {
			fprintf(stderr, "replay: set SG_TOP_SRCDIR (make check does) or name the inputs\n");
			return 1;
		}
		snprintf(path, sizeof(path), "%s/fuzz/corpus/%s", top, FUZZ_TARGET_NAME);
		if ((n = replay_path(path, 1)) < 0)
			return 1;
		total += n;
		snprintf(path, sizeof(path), "%s/fuzz/regressions/%s", top, FUZZ_TARGET_NAME);
		if ((n = replay_path(path, 0)) < 0)
			return 1;
		total += n;
		if (total == 0) {
			fprintf(stderr, "replay: no inputs for %s (a corpus that vanished is a failure)\n", FUZZ_TARGET_NAME);
			return 1;
		}
	}
	printf("replay %s: %ld input(s), no invariant broken\n", FUZZ_TARGET_NAME, total);
	return 0;
}
