/* test_handlers.c - unit tests for the request handlers (daemon/handlers.c)
 * through the real server on a socketpair: every reply against the engine's
 * own answers for a hand-built topology, and field validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "context.h"
#include "log.h"
#include "server.h"
#include "topology.h"
#include "verdict.h"
#include "wire.h"

#define ST(x)	P2PBROKER__V1__STATUS_CODE__STATUS_##x
#define BODY(x) P2PBROKER__V1__REQUEST__BODY_##x

struct fixture {
	struct p2pb_context *ctx;
	int fd; /* test side of the client connection */
	uint64_t next_id;
};

static struct p2pb_bdf
bdf(const char *s)
{
	struct p2pb_bdf b;
	assert_int_equal(p2pb_bdf_parse(s, &b), 0);
	return b;
}

static void
add(struct p2pb_topology *t, const char *at, uint16_t type, const char *parent, int sec, int sub,
    bool provider)
{
	struct p2pb_dev d = { .bdf = bdf(at), .port_type = type, .numa_node = 0 };
	d.iommu_group = P2PB_NONE;
	if (sec >= 0) {
		d.header_type = 1;
		d.secondary_bus = (uint8_t)sec;
		d.subordinate_bus = (uint8_t)sub;
	}
	if (parent) {
		d.has_parent_bdf = true;
		d.parent_bdf = bdf(parent);
	}
	if (provider) {
		d.p2pmem = (struct p2pb_p2pmem){
			.present = true, .published = true, .size = 1 << 20, .available = 1 << 19
		};
		strcpy(d.driver, "nvme");
	}
	assert_true(p2pb_topology_add_dev(t, &d) >= 0);
}

/* Root port -> switch (two downstream ports) -> NVMe provider and GPU; a
 * root-bus endpoint beside them. */
static struct p2pb_topology *
build_topology(void)
{
	struct p2pb_topology *t = p2pb_topology_new();
	assert_non_null(t);
	add(t, "0000:00:00.0", P2PB_PT_RC_INTEGRATED, NULL, -1, -1, false);
	add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NULL, 1, 4, false);
	add(t, "0000:00:02.0", P2PB_PT_RC_INTEGRATED, NULL, -1, -1, false);
	add(t, "0000:01:00.0", P2PB_PT_SWITCH_UPSTREAM, "0000:00:01.0", 2, 4, false);
	add(t, "0000:02:00.0", P2PB_PT_SWITCH_DOWNSTREAM, "0000:01:00.0", 3, 3, false);
	add(t, "0000:02:01.0", P2PB_PT_SWITCH_DOWNSTREAM, "0000:01:00.0", 4, 4, false);
	add(t, "0000:03:00.0", P2PB_PT_ENDPOINT, "0000:02:00.0", -1, -1, true);
	add(t, "0000:04:00.0", P2PB_PT_ENDPOINT, "0000:02:01.0", -1, -1, false);
	assert_int_equal(p2pb_topology_finish(t), 0);
	return t;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	struct p2pb_options opts = { .root = "/nonexistent/p2pb-test-root", .ready_fd = -1 };
	assert_int_equal(p2pb_context_new(&opts, &f->ctx), 0);
	assert_int_equal(p2pb_context_install(f->ctx, build_topology()), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(p2pb_server_add_conn(f->ctx->server, sv[1], NULL), 0);
	f->fd = sv[0];
	f->next_id = 1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	close(f->fd);
	p2pb_context_free(f->ctx);
	free(f);
	return 0;
}

static P2pbroker__V1__Reply *
ask(struct fixture *f, P2pbroker__V1__Request *req)
{
	req->id = f->next_id++;
	wire_send_request(f->ctx->base, f->fd, req);
	P2pbroker__V1__Reply *r = wire_recv_reply(f->ctx->base, f->fd, NULL, NULL);
	assert_non_null(r);
	assert_int_equal(r->id, req->id);
	return r;
}

static P2pbroker__V1__Reply *
ask_simple(struct fixture *f, P2pbroker__V1__Request__BodyCase body)
{
	P2pbroker__V1__Request req = wire_request(0, body);
	return ask(f, &req);
}

static void
set_bdf(P2pbroker__V1__Bdf *m, const char *s)
{
	struct p2pb_bdf b = bdf(s);
	p2pbroker__v1__bdf__init(m);
	m->domain = b.domain;
	m->bus = b.bus;
	m->dev = b.dev;
	m->fn = b.fn;
}

static bool
bdf_is(const P2pbroker__V1__Bdf *m, struct p2pb_bdf b)
{
	return m && m->domain == b.domain && m->bus == b.bus && m->dev == b.dev && m->fn == b.fn;
}

static P2pbroker__V1__Reply *
ask_path(struct fixture *f, P2pbroker__V1__Bdf *provider, P2pbroker__V1__Bdf *client)
{
	P2pbroker__V1__PathRequest p = P2PBROKER__V1__PATH_REQUEST__INIT;
	p.provider = provider;
	p.client = client;
	P2pbroker__V1__Request req = wire_request(0, BODY(PATH));
	req.path = &p;
	return ask(f, &req);
}

static P2pbroker__V1__Reply *
ask_providers(struct fixture *f, P2pbroker__V1__Bdf **clients, size_t n)
{
	P2pbroker__V1__ProvidersRequest p = P2PBROKER__V1__PROVIDERS_REQUEST__INIT;
	p.clients = clients;
	p.n_clients = n;
	P2pbroker__V1__Request req = wire_request(0, BODY(PROVIDERS));
	req.providers = &p;
	return ask(f, &req);
}

static void
expect_error(P2pbroker__V1__Reply *r, P2pbroker__V1__StatusCode status, const char *needle)
{
	assert_int_equal(r->status, status);
	assert_int_equal(r->body_case, P2PBROKER__V1__REPLY__BODY__NOT_SET);
	if (!strstr(r->message, needle))
		fail_msg("message \"%s\" does not mention \"%s\"", r->message, needle);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

/* --- tests ----------------------------------------------------------------- */

static void
test_status(void **state)
{
	struct fixture *f = *state;
	const struct p2pb_topology *t = f->ctx->topo;
	P2pbroker__V1__Reply *r = ask_simple(f, BODY(STATUS));
	assert_int_equal(r->status, ST(OK));
	assert_int_equal(r->body_case, P2PBROKER__V1__REPLY__BODY_STATUS_REPLY);
	const P2pbroker__V1__StatusReply *s = r->status_reply;
	assert_int_equal(s->protocol, P2PB_PROTOCOL_VERSION);
	assert_string_equal(s->version, P2PB_VERSION);
	assert_int_equal(s->n_devices, t->n_devs);
	assert_int_equal(s->n_switches, t->n_switches);
	assert_int_equal(s->n_hostbridges, t->n_hostbridges);
	assert_int_equal(s->n_providers, 1);
	assert_int_equal(s->generation, 1);
	assert_int_equal(s->n_clients, 1);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

static void
test_topology_mirrors_model(void **state)
{
	struct fixture *f = *state;
	const struct p2pb_topology *t = f->ctx->topo;
	P2pbroker__V1__Reply *r = ask_simple(f, BODY(TOPOLOGY));
	assert_int_equal(r->status, ST(OK));
	const P2pbroker__V1__TopologyReply *m = r->topology;
	assert_non_null(m);
	assert_int_equal(m->generation, 1);
	assert_int_equal(m->n_devices, t->n_devs);
	for (size_t i = 0; i < t->n_devs; i++) {
		const struct p2pb_dev *d = &t->devs[i];
		const P2pbroker__V1__Device *md = m->devices[i];
		assert_true(bdf_is(md->bdf, d->bdf));
		assert_int_equal(md->port_type, d->port_type);
		assert_int_equal(md->switch_index, d->sw);
		assert_int_equal(md->hostbridge, (uint32_t)d->hostbridge);
		if (d->parent >= 0)
			assert_true(bdf_is(md->parent, t->devs[d->parent].bdf));
		else
			assert_null(md->parent);
		assert_int_equal(md->p2pmem != NULL, d->p2pmem.present);
		assert_int_equal(md->link != NULL, d->link.present);
		assert_string_equal(md->driver, d->driver);
	}
	const P2pbroker__V1__Device *nvme = m->devices[p2pb_topology_find(t, bdf("03:00.0"))];
	assert_int_equal(nvme->p2pmem->size, 1 << 20);
	assert_int_equal(nvme->p2pmem->available, 1 << 19);
	assert_true(nvme->p2pmem->published);

	assert_int_equal(m->n_switches, 1);
	assert_true(bdf_is(m->switches[0]->upstream, bdf("01:00.0")));
	assert_int_equal(m->switches[0]->n_downstream, 2);
	assert_true(bdf_is(m->switches[0]->downstream[0], bdf("02:00.0")));
	assert_true(bdf_is(m->switches[0]->downstream[1], bdf("02:01.0")));
	assert_int_equal(m->switches[0]->parent_switch, -1);
	assert_int_equal(m->n_hostbridges, t->n_hostbridges);
	for (size_t i = 0; i < t->n_hostbridges; i++) {
		assert_int_equal(m->hostbridges[i]->whitelisted,
				 p2pb_host_bridge_whitelisted(t, (int)i, false));
		assert_int_equal(m->hostbridges[i]->whitelisted_same,
				 p2pb_host_bridge_whitelisted(t, (int)i, true));
	}
	assert_int_equal(m->n_warnings, t->n_warnings);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

static void
test_path_matches_engine(void **state)
{
	struct fixture *f = *state;
	const struct p2pb_topology *t = f->ctx->topo;
	const char *pairs[][2] = { { "03:00.0", "04:00.0" },
				   { "03:00.0", "03:00.0" },
				   { "03:00.0", "00:02.0" } };
	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		P2pbroker__V1__Bdf p, c;
		set_bdf(&p, pairs[k][0]);
		set_bdf(&c, pairs[k][1]);
		P2pbroker__V1__Reply *r = ask_path(f, &p, &c);
		assert_int_equal(r->status, ST(OK));
		const P2pbroker__V1__PathReply *m = r->path;
		int pi = p2pb_topology_find(t, bdf(pairs[k][0]));
		int ci = p2pb_topology_find(t, bdf(pairs[k][1]));
		struct p2pb_verdict v;
		p2pb_verdict(f->ctx->vctx, pi, ci, &v);
		char why[4096];
		p2pb_verdict_explain(t, &v, pi, ci, why, sizeof(why));
		assert_int_equal(m->verdict, v.map);
		assert_int_equal(m->distance, v.distance);
		assert_int_equal(m->raw_distance, v.raw_distance);
		assert_int_equal(m->n_acs_redirect, v.n_acs);
		assert_int_equal(m->common_bridge != NULL, v.common >= 0);
		if (v.common >= 0)
			assert_true(bdf_is(m->common_bridge, t->devs[v.common].bdf));
		assert_string_equal(m->reason, why);
		assert_true(strlen(m->reason) > 0);
		p2pbroker__v1__reply__free_unpacked(r, NULL);
	}
}

static void
test_path_validation(void **state)
{
	struct fixture *f = *state;
	P2pbroker__V1__Bdf p, c;
	set_bdf(&p, "03:00.0");
	expect_error(ask_path(f, &p, NULL), ST(INVALID_REQUEST), "path.client is missing");
	expect_error(ask_path(f, NULL, &p), ST(INVALID_REQUEST), "path.provider is missing");
	set_bdf(&c, "04:00.0");
	c.dev = 32;
	expect_error(ask_path(f, &p, &c), ST(INVALID_REQUEST), "path.client.dev is 32");
	c.dev = 0;
	c.bus = 256;
	expect_error(ask_path(f, &p, &c), ST(INVALID_REQUEST), "path.client.bus is 256");
	c.bus = 4;
	c.fn = 8;
	expect_error(ask_path(f, &p, &c), ST(INVALID_REQUEST), "path.client.fn is 8");
	set_bdf(&c, "0000:09:00.0");
	expect_error(ask_path(f, &c, &p), ST(NOT_FOUND), "0000:09:00.0");
	set_bdf(&c, "0001:04:00.0");
	expect_error(ask_path(f, &p, &c), ST(NOT_FOUND), "0001:04:00.0");
}

static void
test_providers(void **state)
{
	struct fixture *f = *state;
	const struct p2pb_topology *t = f->ctx->topo;
	P2pbroker__V1__Bdf a, b;
	set_bdf(&a, "04:00.0");
	set_bdf(&b, "00:02.0");
	P2pbroker__V1__Bdf *clients[] = { &a, &b };
	for (size_t n = 1; n <= 2; n++) {
		P2pbroker__V1__Reply *r = ask_providers(f, clients, n);
		assert_int_equal(r->status, ST(OK));
		const P2pbroker__V1__ProvidersReply *m = r->providers;
		int ci[2] = { p2pb_topology_find(t, bdf("04:00.0")),
			      p2pb_topology_find(t, bdf("00:02.0")) };
		struct p2pb_provider_choice want[8];
		int nw = p2pb_providers_rank(f->ctx->vctx, ci, n, want, 8);
		assert_true(nw >= 0);
		assert_int_equal(m->n_clients, n);
		assert_int_equal(m->n_providers, (size_t)nw);
		for (int i = 0; i < nw; i++) {
			assert_true(bdf_is(m->providers[i]->bdf, t->devs[want[i].dev].bdf));
			assert_int_equal(m->providers[i]->total_distance, want[i].total_distance);
			assert_int_equal(m->providers[i]->size, 1 << 20);
		}
		p2pbroker__v1__reply__free_unpacked(r, NULL);
	}
	/* The switch-local client reaches the one provider. */
	P2pbroker__V1__Reply *r = ask_providers(f, clients, 1);
	assert_int_equal(r->providers->n_providers, 1);
	assert_true(bdf_is(r->providers->providers[0]->bdf, bdf("03:00.0")));
	p2pbroker__v1__reply__free_unpacked(r, NULL);

	expect_error(ask_providers(f, clients, 0), ST(INVALID_REQUEST), "empty");
	set_bdf(&b, "0000:07:00.0");
	expect_error(ask_providers(f, clients, 2), ST(NOT_FOUND),
		     "providers.clients[1]: no device 0000:07:00.0");
	b.fn = 9;
	expect_error(ask_providers(f, clients, 2), ST(INVALID_REQUEST),
		     "providers.clients[1].fn is 9");
}

static void
test_matrix_matches_engine(void **state)
{
	struct fixture *f = *state;
	const struct p2pb_topology *t = f->ctx->topo;
	int *devs = NULL;
	int n = p2pb_matrix_devices(t, &devs);
	assert_true(n > 1);
	P2pbroker__V1__Reply *r = ask_simple(f, BODY(MATRIX));
	assert_int_equal(r->status, ST(OK));
	const P2pbroker__V1__MatrixReply *m = r->matrix;
	assert_int_equal(m->n_devices, (size_t)n);
	assert_int_equal(m->n_verdict, (size_t)n * n);
	assert_int_equal(m->n_distance, (size_t)n * n);
	for (int i = 0; i < n; i++) {
		assert_true(bdf_is(m->devices[i], t->devs[devs[i]].bdf));
		for (int j = 0; j < n; j++) {
			struct p2pb_verdict v;
			p2pb_verdict(f->ctx->vctx, devs[i], devs[j], &v);
			assert_int_equal(m->verdict[i * n + j], v.map);
			assert_int_equal(m->distance[i * n + j], v.distance);
		}
	}
	free(devs);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

/* The fixture's root does not exist: the rescan fails, says why, and the
 * old topology is still served under its old generation. */
static void
test_failed_rescan_keeps_topology(void **state)
{
	struct fixture *f = *state;
	P2pbroker__V1__Reply *r = ask_simple(f, BODY(RESCAN));
	assert_int_equal(r->status, ST(INTERNAL));
	assert_non_null(strstr(r->message, "generation 1"));
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	r = ask_simple(f, BODY(STATUS));
	assert_int_equal(r->status_reply->generation, 1);
	assert_int_equal(r->status_reply->n_devices, 8);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

/* Installing a new topology bumps the generation and replaces the answers. */
static void
test_install_swaps_generation(void **state)
{
	struct fixture *f = *state;
	struct p2pb_topology *t = p2pb_topology_new();
	assert_non_null(t);
	add(t, "0000:00:00.0", P2PB_PT_RC_INTEGRATED, NULL, -1, -1, false);
	assert_int_equal(p2pb_topology_finish(t), 0);
	assert_int_equal(p2pb_context_install(f->ctx, t), 0);
	P2pbroker__V1__Reply *r = ask_simple(f, BODY(STATUS));
	assert_int_equal(r->status_reply->generation, 2);
	assert_int_equal(r->status_reply->n_devices, 1);
	assert_int_equal(r->status_reply->n_providers, 0);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

int
main(void)
{
	p2pb_log_init(false, LOG_CRIT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topology_mirrors_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_matches_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_providers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_matrix_matches_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_rescan_keeps_topology, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_swaps_generation, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
