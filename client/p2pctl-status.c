/* p2pctl-status.c - `p2pctl status` (the daemon at a glance) and `p2pctl rescan`
 * (read the topology again now). */
#include <inttypes.h>

#include "p2pctl.h"

static json_object *
status_json(const struct p2pctl *ctl, const struct p2pb_status_info *s)
{
	json_object *o = json_object_new_object(), *cpu = json_object_new_object();

	json_object_object_add(o, "socket", json_object_new_string(p2pb_socket_path(ctl->socket)));
	json_object_object_add(o, "version", json_object_new_string(s->version));
	json_object_object_add(o, "protocol", json_object_new_int64(s->protocol));
	json_object_object_add(o, "root", json_object_new_string(s->root));
	json_object_object_add(o, "generation", json_object_new_uint64(s->generation));
	json_object_object_add(o, "devices", json_object_new_int64(s->n_devices));
	json_object_object_add(o, "switches", json_object_new_int64(s->n_switches));
	json_object_object_add(o, "hostbridges", json_object_new_int64(s->n_hostbridges));
	json_object_object_add(o, "providers", json_object_new_int64(s->n_providers));
	json_object_object_add(o, "warnings", json_object_new_int64(s->n_warnings));
	json_object_object_add(o, "clients", json_object_new_int64(s->n_clients));
	json_object_object_add(o, "uptime_usec", json_object_new_uint64(s->uptime_usec));
	json_object_object_add(o, "last_scan_usec", json_object_new_uint64(s->last_scan_usec));
	json_object_object_add(o, "scanning", json_object_new_boolean(s->scanning));
	json_object_object_add(cpu, "known", json_object_new_boolean(s->cpu_known));
	json_object_object_add(cpu, "vendor", p2pctl_json_string_or_null(s->cpu_vendor));
	json_object_object_add(cpu, "family", p2pctl_json_int_or_null(s->cpu_family, s->cpu_known));
	json_object_object_add(o, "cpu", cpu);
	return o;
}

/* "3d 4h", "2h 5m", "1m 7s", "12s" */
static void
print_duration(uint64_t usec)
{
	uint64_t s = usec / 1000000;

	if (s >= 86400)
		printf("%" PRIu64 "d %" PRIu64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		printf("%" PRIu64 "h %" PRIu64 "m", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		printf("%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
	else
		printf("%" PRIu64 "s", s);
}

static const char *
plural(uint32_t n, const char *suffix)
{
	return n == 1 ? "" : suffix;
}

static void
status_text(const struct p2pctl *ctl, const struct p2pb_status_info *s)
{
	printf("p2pbrokerd %s (protocol %u), up ", s->version, s->protocol);
	print_duration(s->uptime_usec);
	printf(", %u client%s\n", s->n_clients, plural(s->n_clients, "s"));
	printf("socket:     %s\n", p2pb_socket_path(ctl->socket));
	printf("root:       %s\n", s->root);
	printf("topology:   generation %" PRIu64 ", %u device%s, %u switch%s, %u host bridge%s\n",
	       s->generation, s->n_devices, plural(s->n_devices, "s"), s->n_switches,
	       plural(s->n_switches, "es"), s->n_hostbridges, plural(s->n_hostbridges, "s"));
	printf("p2pmem:     %u published provider%s\n", s->n_providers,
	       plural(s->n_providers, "s"));
	printf("last scan:  %.1f ms%s\n", (double)s->last_scan_usec / 1000.0,
	       s->scanning ? " (a rescan is running now)" : "");
	if (s->cpu_known)
		printf("cpu:        %s family 0x%x\n", s->cpu_vendor, s->cpu_family);
	else
		printf("cpu:        unknown (verdicts through the host bridge assume no CPU "
		       "rule)\n");
	printf("warnings:   %u%s\n", s->n_warnings,
	       s->n_warnings ? " (see 'p2pctl topology')" : "");
}

static int
run_status(struct p2pctl *ctl, int argc, char **argv)
{
	struct p2pb_status_info *s = NULL;
	int first = 0, r;

	r = p2pctl_simple_options(ctl, &p2pctl_cmd_status, argc, argv, 0, 0, &first);
	if (r >= 0)
		return r;
	r = p2pctl_connect(ctl);
	if (r != P2PCTL_EXIT_OK)
		return r;
	r = p2pb_get_status(ctl->client, &s);
	if (r < 0)
		return p2pctl_request_failed(ctl, "status", r);
	if (ctl->json)
		r = p2pctl_json_print(status_json(ctl, s));
	else
		status_text(ctl, s);
	p2pb_status_info_free(s);
	return r;
}

const struct p2pctl_command p2pctl_cmd_status = {
	.name = "status",
	.synopsis = "",
	.summary = "the daemon's version, topology generation and counts",
	.run = run_status,
};

static int
run_rescan(struct p2pctl *ctl, int argc, char **argv)
{
	struct p2pb_rescan_info *x = NULL;
	int first = 0, r;

	r = p2pctl_simple_options(ctl, &p2pctl_cmd_rescan, argc, argv, 0, 0, &first);
	if (r >= 0)
		return r;
	r = p2pctl_connect(ctl);
	if (r != P2PCTL_EXIT_OK)
		return r;
	r = p2pb_rescan(ctl->client, &x);
	if (r < 0)
		return p2pctl_request_failed(ctl, "rescan", r);
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "generation", json_object_new_uint64(x->generation));
		json_object_object_add(o, "devices", json_object_new_int64(x->n_devices));
		json_object_object_add(o, "scan_usec", json_object_new_uint64(x->scan_usec));
		r = p2pctl_json_print(o);
	} else {
		printf("rescanned: generation %" PRIu64 ", %u devices in %.1f ms\n", x->generation,
		       x->n_devices, (double)x->scan_usec / 1000.0);
	}
	p2pb_rescan_info_free(x);
	return r;
}

const struct p2pctl_command p2pctl_cmd_rescan = {
	.name = "rescan",
	.synopsis = "",
	.summary = "make the daemon read the topology again; prints the new generation",
	.run = run_rescan,
};
