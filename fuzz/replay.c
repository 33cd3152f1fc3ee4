/* replay.c - runs a fuzz target's LLVMFuzzerTestOneInput() once per input file,
 * without libFuzzer, so `make check` replays the seed corpora (and any saved
 * crash) under the gcc ASan+UBSan build on machines without clang.
 *   replay_TARGET FILE|DIR...     exit 0 when every input ran; a crash aborts */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *n = realloc(buf, cap = cap ? cap * 2 : 4096);
			if (!n) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = n;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		if (got == 0)
			break;
		len += got;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 1;
}

/* Returns the number of inputs run, or -errno. */
static int
run_path(const char *path)
{
	struct stat st;
	struct dirent **names;
	int n, total = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	n = scandir(path, &names, NULL, alphasort); /* sorted: reproducible */
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char child[4096];
		int r = 0;

		if (names[i]->d_name[0] != '.') {
			snprintf(child, sizeof(child), "%s/%s", path, names[i]->d_name);
			r = run_path(child);
		}
		free(names[i]);
		if (r < 0) {
			while (++i < n)
				free(names[i]);
			free(names);
			return r;
		}
		total += r;
	}
	free(names);
	return total;
}

int
main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		int r = run_path(argv[i]);
		if (r < 0)
			return 1;
		total += r;
	}
	printf("replayed %d inputs\n", total);
	return total > 0 ? 0 : 1;
}
