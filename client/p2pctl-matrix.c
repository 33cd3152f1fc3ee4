/* p2pctl-matrix.c - `p2pctl matrix`: the verdict for every pair of endpoints, as
 * a grid like `nvidia-smi topo -m`, or as JSON. Printed straight to stdio: a
 * 1024-device matrix has a million cells, too many to build as objects first. */
#include <string.h>

#include "p2pctl.h"

/* "X", "BUS4", "HB10", "-", "?": the cell's text; buf holds 16 bytes. */
static const char *
cell_text(const struct p2pb_matrix_info *m, size_t i, size_t j, char *buf)
{
	size_t k = i * m->n + j;

	if (i == j)
		return "X";
	switch (m->verdict[k]) {
	case P2PB_P2P_BUS_ADDR:
		snprintf(buf, 16, "BUS%d", m->distance[k]);
		return buf;
	case P2PB_P2P_THRU_HOST_BRIDGE:
		snprintf(buf, 16, "HB%d", m->distance[k]);
		return buf;
	case P2PB_P2P_NOT_SUPPORTED:
		return "-";
	default:
		return "?";
	}
}

static int
digits(size_t v)
{
	int d = 1;

	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

static void
matrix_text(const struct p2pb_matrix_info *m)
{
	int label_w = 1 + digits(m->n ? m->n - 1 : 0), cell_w = label_w;
	char buf[16], a[P2PB_ADDRESS_STRLEN];

	/* Columns are as wide as the widest label or cell, so they line up. */
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < m->n; j++) {
			int w = (int)strlen(cell_text(m, i, j, buf));

			if (w > cell_w)
				cell_w = w;
		}
	printf("%-*s %-12s", label_w, "", "");
	for (size_t j = 0; j < m->n; j++)
		printf(" %*s%zu", cell_w - digits(j), "D", j);
	putchar('\n');
	for (size_t i = 0; i < m->n; i++) {
		printf("D%-*zu %-12s", label_w - 1, i, p2pb_address_format(m->devices[i], a));
		for (size_t j = 0; j < m->n; j++)
			printf(" %*s", cell_w, cell_text(m, i, j, buf));
		putchar('\n');
	}
	printf("\nRows are providers (whose memory is used), columns are clients (which do the "
	       "DMA).\n"
	       "Legend:\n"
	       "  X     = self\n"
	       "  BUSn  = bus-addr: P2P through PCIe switches/root ports, kernel distance n\n"
	       "  HBn   = thru-host-bridge: P2P through the host bridge, kernel distance n\n"
	       "  -     = not-supported: the kernel refuses P2P DMA for this pair\n"
	       "Use 'p2pctl path PROVIDER CLIENT' for the reason behind a cell.\n");
	if (m->n == 0)
		printf("(no endpoints)\n");
}

static void
matrix_json(const struct p2pb_matrix_info *m)
{
	char a[P2PB_ADDRESS_STRLEN];

	/* Names and addresses need no escaping; one row per line keeps it readable. */
	printf("{\n  \"devices\": [");
	for (size_t i = 0; i < m->n; i++)
		printf("%s\n    \"%s\"", i ? "," : "", p2pb_address_format(m->devices[i], a));
	printf("%s],\n  \"matrix\": [", m->n ? "\n  " : "");
	for (size_t i = 0; i < m->n; i++) {
		printf("%s\n    [", i ? "," : "");
		for (size_t j = 0; j < m->n; j++) {
			size_t k = i * m->n + j;

			printf("%s{ \"verdict\": \"%s\", \"distance\": %d }", j ? ", " : "",
			       p2pb_p2p_map_name(m->verdict[k]), m->distance[k]);
		}
		putchar(']');
	}
	printf("%s]\n}\n", m->n ? "\n  " : "");
}

static int
run_matrix(struct p2pctl *ctl, int argc, char **argv)
{
	struct p2pb_matrix_info *m = NULL;
	int first = 0, r;

	r = p2pctl_simple_options(ctl, &p2pctl_cmd_matrix, argc, argv, 0, 0, &first);
	if (r >= 0)
		return r;
	r = p2pctl_connect(ctl);
	if (r != P2PCTL_EXIT_OK)
		return r;
	r = p2pb_get_matrix(ctl->client, &m);
	if (r < 0)
		return p2pctl_request_failed(ctl, "matrix", r);
	if (ctl->json)
		matrix_json(m);
	else
		matrix_text(m);
	p2pb_matrix_info_free(m);
	return P2PCTL_EXIT_OK;
}

const struct p2pctl_command p2pctl_cmd_matrix = {
	.name = "matrix",
	.synopsis = "",
	.summary = "P2P verdicts for all pairs of endpoints (rows: providers, columns: clients)",
	.run = run_matrix,
};
