/* p2pctl-path.c - `p2pctl path` (the kernel's verdict for one provider/client
 * pair, and why) and `p2pctl providers` (p2pmem providers ranked for clients). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "p2pctl.h"

static json_object *
path_json(const struct p2pb_path_info *p)
{
	json_object *o = json_object_new_object(), *acs = json_object_new_array();
	json_object *unknown = json_object_new_array();

	json_object_object_add(o, "provider", p2pctl_json_address(p->provider));
	json_object_object_add(o, "client", p2pctl_json_address(p->client));
	json_object_object_add(o, "verdict", json_object_new_string(p2pb_p2p_map_name(p->verdict)));
	json_object_object_add(o, "distance", json_object_new_int(p->distance));
	json_object_object_add(o, "raw_distance", json_object_new_int(p->raw_distance));
	json_object_object_add(o, "common_bridge",
			       p->has_common_bridge ? p2pctl_json_address(p->common_bridge) : NULL);
	for (size_t i = 0; i < p->n_acs; i++) {
		json_object *a = json_object_new_object();

		json_object_object_add(a, "device", p2pctl_json_address(p->acs_devices[i]));
		json_object_object_add(a, "ctrl", json_object_new_int(p->acs_ctrl[i]));
		json_object_object_add(a, "ctrl_bits", p2pctl_json_acs_bits(p->acs_ctrl[i]));
		json_object_array_add(acs, a);
	}
	json_object_object_add(o, "acs", acs);
	for (size_t i = 0; i < p->n_acs_unknown; i++)
		json_object_array_add(unknown, p2pctl_json_address(p->acs_unknown[i]));
	json_object_object_add(o, "acs_unknown", unknown);
	json_object_object_add(o, "host_bridge_whitelisted",
			       json_object_new_boolean(p->host_bridge_whitelisted));
	json_object_object_add(o, "cpu_allows", json_object_new_boolean(p->cpu_allows));
	json_object_object_add(o, "reason", json_object_new_string(p->reason));
	return o;
}

static void
path_text(const struct p2pb_path_info *p)
{
	char a[P2PB_ADDRESS_STRLEN], bits[48];

	printf("provider:       %s\n", p2pb_address_format(p->provider, a));
	printf("client:         %s\n", p2pb_address_format(p->client, a));
	printf("verdict:        %s\n", p2pb_p2p_map_name(p->verdict));
	if (p->distance >= 0)
		printf("distance:       %d\n", p->distance);
	else
		printf("distance:       - (computed %d before refusing)\n", p->raw_distance);
	printf("common bridge:  %s\n", p->has_common_bridge
					       ? p2pb_address_format(p->common_bridge, a)
					       : "none (the path crosses the host bridge)");
	if (p->n_acs == 0)
		printf("ACS redirect:   none on the path\n");
	for (size_t i = 0; i < p->n_acs; i++)
		printf("%s%s [%s]\n", i ? "                " : "ACS redirect:   ",
		       p2pb_address_format(p->acs_devices[i], a),
		       p2pctl_acs_bits_string(p->acs_ctrl[i], bits, sizeof(bits)));
	for (size_t i = 0; i < p->n_acs_unknown; i++)
		printf("%s%s (could not be read here)\n",
		       i ? "                " : "ACS unknown:    ",
		       p2pb_address_format(p->acs_unknown[i], a));
	printf("host bridge:    %s\n", p->host_bridge_whitelisted
					       ? "on the kernel's whitelist"
					       : "not on the kernel's whitelist");
	printf("CPU rule:       %s\n",
	       p->cpu_allows ? "met (the CPU allows P2P through any host bridge)" : "not met");
	printf("reason:         %s\n", p->reason);
}

static int
run_path(struct p2pctl *ctl, int argc, char **argv)
{
	struct p2pb_address provider, client;
	struct p2pb_path_info *p = NULL;
	char what[80], a[P2PB_ADDRESS_STRLEN], b[P2PB_ADDRESS_STRLEN];
	int first = 0, r;

	r = p2pctl_simple_options(ctl, &p2pctl_cmd_path, argc, argv, 2, 2, &first);
	if (r >= 0)
		return r;
	if ((r = p2pctl_parse_address(ctl, argv[first], "PROVIDER", &provider)) ||
	    (r = p2pctl_parse_address(ctl, argv[first + 1], "CLIENT", &client)))
		return r;
	r = p2pctl_connect(ctl);
	if (r != P2PCTL_EXIT_OK)
		return r;
	r = p2pb_get_path(ctl->client, provider, client, &p);
	if (r < 0) {
		snprintf(what, sizeof(what), "path %s -> %s", p2pb_address_format(provider, a),
			 p2pb_address_format(client, b));
		return p2pctl_request_failed(ctl, what, r);
	}
	r = P2PCTL_EXIT_OK;
	if (ctl->json)
		r = p2pctl_json_print(path_json(p));
	else
		path_text(p);
	p2pb_path_info_free(p);
	return r;
}

const struct p2pctl_command p2pctl_cmd_path = {
	.name = "path",
	.synopsis = "PROVIDER CLIENT",
	.summary = "can CLIENT reach PROVIDER's memory by P2P DMA, how far, and why",
	.run = run_path,
};

/* ---- providers -------------------------------------------------------------- */

static json_object *
providers_json(const struct p2pb_providers_info *p)
{
	json_object *o = json_object_new_object(), *cl = json_object_new_array(),
		    *pr = json_object_new_array();

	for (size_t i = 0; i < p->n_clients; i++)
		json_object_array_add(cl, p2pctl_json_address(p->clients[i]));
	json_object_object_add(o, "clients", cl);
	for (size_t i = 0; i < p->n_providers; i++) {
		const struct p2pb_provider_info *x = p->providers[i];
		json_object *e = json_object_new_object();

		json_object_object_add(e, "rank", json_object_new_int64((int64_t)i + 1));
		json_object_object_add(e, "provider", p2pctl_json_address(x->address));
		json_object_object_add(e, "total_distance", json_object_new_int(x->total_distance));
		json_object_object_add(e, "numa_node",
				       p2pctl_json_int_or_null(x->numa_node, x->numa_node >= 0));
		json_object_object_add(e, "numa_matches", json_object_new_int64(x->numa_matches));
		json_object_object_add(e, "size", json_object_new_uint64(x->size));
		json_object_object_add(e, "available", json_object_new_uint64(x->available));
		json_object_array_add(pr, e);
	}
	json_object_object_add(o, "providers", pr);
	return o;
}

static void
providers_text(const struct p2pb_providers_info *p)
{
	char a[P2PB_ADDRESS_STRLEN], s1[24], s2[24], numa[16];

	printf("clients:");
	for (size_t i = 0; i < p->n_clients; i++)
		printf(" %s", p2pb_address_format(p->clients[i], a));
	putchar('\n');
	if (p->n_providers == 0) {
		printf("no published p2pmem provider is reachable from every client\n");
		return;
	}
	printf("%-5s %-12s %9s %5s %12s %10s %10s\n", "RANK", "PROVIDER", "DISTANCE", "NUMA",
	       "NUMA-MATCHES", "SIZE", "AVAILABLE");
	for (size_t i = 0; i < p->n_providers; i++) {
		const struct p2pb_provider_info *x = p->providers[i];

		snprintf(numa, sizeof(numa), x->numa_node >= 0 ? "%d" : "-", x->numa_node);
		printf("%-5zu %-12s %9d %5s %12u %10s %10s\n", i + 1,
		       p2pb_address_format(x->address, a), x->total_distance, numa, x->numa_matches,
		       p2pctl_size_string(x->size, s1, sizeof(s1)),
		       p2pctl_size_string(x->available, s2, sizeof(s2)));
	}
}

/* --client BDF, repeatable, into a growing array. */
static int
add_client(struct p2pctl *ctl, const char *arg, struct p2pb_address **list, size_t *n)
{
	struct p2pb_address a, *grown;
	int r = p2pctl_parse_address(ctl, arg, "--client", &a);

	if (r)
		return r;
	grown = realloc(*list, (*n + 1) * sizeof(**list));
	if (!grown) {
		fputs("p2pctl: out of memory\n", stderr);
		return P2PCTL_EXIT_ERROR;
	}
	grown[(*n)++] = a;
	*list = grown;
	return 0;
}

/* Options of `providers`; returns -1 to go on, or an exit code. */
static int
providers_options(struct p2pctl *ctl, int argc, char **argv, struct p2pb_address **clients,
		  size_t *n)
{
	static const struct option opts[] = {
		{ "client", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+:c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if ((r = add_client(ctl, optarg, clients, n)))
				return r;
			break;
		case 'j':
			ctl->json = true;
			break;
		case 'h':
			p2pctl_command_usage(&p2pctl_cmd_providers, stdout);
			return P2PCTL_EXIT_OK;
		case ':':
			return p2pctl_usage_error(ctl, "option '%s' needs an argument",
						  argv[optind - 1]);
		default:
			return p2pctl_usage_error(ctl, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return p2pctl_usage_error(ctl, "unexpected argument '%s' (use --client BDF)",
					  argv[optind]);
	if (*n == 0)
		return p2pctl_usage_error(ctl, "at least one --client BDF is needed");
	return -1;
}

static int
run_providers(struct p2pctl *ctl, int argc, char **argv)
{
	struct p2pb_address *clients = NULL;
	struct p2pb_providers_info *p = NULL;
	size_t n = 0;
	int r;

	r = providers_options(ctl, argc, argv, &clients, &n);
	if (r >= 0)
		goto out;
	r = p2pctl_connect(ctl);
	if (r != P2PCTL_EXIT_OK)
		goto out;
	r = p2pb_find_providers(ctl->client, clients, n, &p);
	if (r < 0) {
		r = p2pctl_request_failed(ctl, "providers", r);
		goto out;
	}
	r = P2PCTL_EXIT_OK;
	if (ctl->json)
		r = p2pctl_json_print(providers_json(p));
	else
		providers_text(p);
out:
	p2pb_providers_info_free(p);
	free(clients);
	return r;
}

const struct p2pctl_command p2pctl_cmd_providers = {
	.name = "providers",
	.synopsis = "--client BDF [--client BDF ...]",
	.summary = "published p2pmem providers every client can use, best first",
	.run = run_providers,
};
