/* scan_bench.c - times p2pb_scan() on a fixture root, the work the daemon does
 * at start-up and on every rescan. Prints the median of N runs in ms. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scan.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	double t[64];
	size_t n_devs = 0;

	if (argc < 2 || runs < 1 || runs > 64) {
		fprintf(stderr, "usage: %s ROOT [RUNS<=64]\n", argv[0]);
		return 2;
	}
	for (int i = 0; i < runs; i++) {
		struct p2pb_topology *topo = NULL;
		double t0 = now_ms();
		int r = p2pb_scan(argv[1], &topo);

		t[i] = now_ms() - t0;
		if (r < 0) {
			fprintf(stderr, "scan of %s failed: %s\n", argv[1], strerror(-r));
			return 1;
		}
		n_devs = topo->n_devs;
		p2pb_topology_free(topo);
	}
	qsort(t, runs, sizeof(t[0]), cmp_double);
	printf("%zu %.2f\n", n_devs, t[runs / 2]);
	return 0;
}
