/* test_rescan.c - unit tests for rescans off the event loop (daemon/rescan.c
 * and its use by the context and the rescan handler): requests served while
 * a scan runs, coalescing, failures, hang-ups and shutdown mid-scan. The scan
 * is a stand-in that waits for the test's word on the worker thread. */
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "context.h"
#include "log.h"
#include "rescan.h"
#include "scan.h"
#include "server.h"
#include "topology.h"
#include "sysfs_tree.h"
#include "wire.h"

#define ST(x)	P2PBROKER__V1__STATUS_CODE__STATUS_##x
#define BODY(x) P2PBROKER__V1__REQUEST__BODY_##x

#define N_CLIENTS 3
#define N_FIRST	  8 /* devices in the topology installed before each test */

/* The scan stand-in, shared with the worker thread. */
static struct {
	sem_t started; /* posted as a scan begins */
	sem_t release; /* posted by the test to let one scan end */
	atomic_int calls;
	atomic_int fail_with;  /* -errno for the next scan to return, or 0 */
	atomic_uint n_devices; /* devices in the topologies it builds */
} gate;

struct fixture {
	struct p2pb_context *ctx;
	int fd[N_CLIENTS]; /* test sides of the client connections */
};

static struct p2pb_topology *
topology_of(unsigned n)
{
	struct p2pb_topology *t = p2pb_topology_new();
	assert_non_null(t);
	for (unsigned i = 0; i < n; i++) {
		struct p2pb_dev d = { .bdf = { .dev = (uint8_t)(i / 8), .fn = (uint8_t)(i % 8) },
				      .port_type = P2PB_PT_RC_INTEGRATED,
				      .iommu_group = P2PB_NONE };
		assert_true(p2pb_topology_add_dev(t, &d) >= 0);
	}
	assert_int_equal(p2pb_topology_finish(t), 0);
	return t;
}

static int
gated_scan(const char *root, struct p2pb_topology **ret)
{
	atomic_fetch_add(&gate.calls, 1);
	sem_post(&gate.started);
	while (sem_wait(&gate.release) < 0)
		;
	int err = atomic_exchange(&gate.fail_with, 0);
	if (err)
		return err;
	*ret = topology_of(atomic_load(&gate.n_devices));
	return 0;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(sem_init(&gate.started, 0, 0), 0);
	assert_int_equal(sem_init(&gate.release, 0, 0), 0);
	atomic_store(&gate.calls, 0);
	atomic_store(&gate.fail_with, 0);
	atomic_store(&gate.n_devices, 3);
	struct p2pb_options opts = { .root = "/nonexistent/p2pb-test-root", .ready_fd = -1 };
	assert_int_equal(p2pb_context_new(&opts, &f->ctx), 0);
	assert_int_equal(p2pb_context_install(f->ctx, topology_of(N_FIRST)), 0);
	f->ctx->scan = gated_scan;
	for (int i = 0; i < N_CLIENTS; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(p2pb_server_add_conn(f->ctx->server, sv[1], NULL), 0);
		f->fd[i] = sv[0];
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	/* A scan still waiting must be let go before the context joins it. */
	sem_post(&gate.release);
	sem_post(&gate.release);
	p2pb_context_free(f->ctx);
	for (int i = 0; i < N_CLIENTS; i++)
		if (f->fd[i] >= 0)
			close(f->fd[i]);
	sem_destroy(&gate.started);
	sem_destroy(&gate.release);
	free(f);
	return 0;
}

static void
send_req(struct fixture *f, int client, uint64_t id, P2pbroker__V1__Request__BodyCase body)
{
	P2pbroker__V1__Request req = wire_request(id, body);
	wire_send_request(f->ctx->base, f->fd[client], &req);
}

static P2pbroker__V1__Reply *
recv_reply(struct fixture *f, int client, uint64_t id)
{
	P2pbroker__V1__Reply *r = wire_recv_reply(f->ctx->base, f->fd[client], NULL, NULL);
	assert_non_null(r);
	assert_int_equal(r->id, id);
	return r;
}

/* Turns the loop until a scan has begun on the worker thread. */
static void
wait_scan_started(struct fixture *f)
{
	uint64_t deadline = wire_ms() + WIRE_TIMEOUT_MS;
	while (sem_trywait(&gate.started) < 0) {
		if (wire_ms() > deadline)
			fail_msg("no scan started within %d ms", WIRE_TIMEOUT_MS);
		wire_pump(f->ctx->base);
		poll(NULL, 0, 1);
	}
}

static void
assert_no_reply_yet(struct fixture *f, int client)
{
	wire_pump(f->ctx->base);
	struct pollfd p = { .fd = f->fd[client], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
}

static void
expect_rescan_ok(struct fixture *f, int client, uint64_t id, uint64_t generation,
		 unsigned n_devices)
{
	P2pbroker__V1__Reply *r = recv_reply(f, client, id);
	assert_int_equal(r->status, ST(OK));
	assert_non_null(r->rescan);
	assert_int_equal(r->rescan->generation, generation);
	assert_int_equal(r->rescan->n_devices, n_devices);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

static void
expect_status_scanning(struct fixture *f, int client, uint64_t id, bool scanning)
{
	P2pbroker__V1__Reply *r = recv_reply(f, client, id);
	assert_int_equal(r->status, ST(OK));
	assert_non_null(r->status_reply);
	assert_int_equal(r->status_reply->scanning, scanning);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

static void
expect_status(struct fixture *f, int client, uint64_t id, uint64_t generation, unsigned n_devices)
{
	P2pbroker__V1__Reply *r = recv_reply(f, client, id);
	assert_int_equal(r->status, ST(OK));
	assert_non_null(r->status_reply);
	assert_int_equal(r->status_reply->generation, generation);
	assert_int_equal(r->status_reply->n_devices, n_devices);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

/* While client 0's rescan runs, client 1 is answered from the old topology;
 * client 0's own later request waits behind its rescan and then sees the new
 * one. */
static void
test_requests_served_while_scanning(void **state)
{
	struct fixture *f = *state;
	send_req(f, 0, 1, BODY(RESCAN));
	wait_scan_started(f);
	send_req(f, 0, 2, BODY(STATUS));
	for (uint64_t id = 10; id < 13; id++) {
		send_req(f, 1, id, BODY(STATUS));
		expect_status(f, 1, id, 1, N_FIRST);
	}
	send_req(f, 1, 13, BODY(TOPOLOGY));
	P2pbroker__V1__Reply *r = recv_reply(f, 1, 13);
	assert_int_equal(r->topology->n_devices, N_FIRST);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	assert_no_reply_yet(f, 0);
	assert_true(p2pb_rescan_running(f->ctx->rescan));
	send_req(f, 1, 15, BODY(STATUS));
	expect_status_scanning(f, 1, 15, true);

	sem_post(&gate.release);
	expect_rescan_ok(f, 0, 1, 2, 3);
	expect_status(f, 0, 2, 2, 3);
	send_req(f, 1, 14, BODY(STATUS));
	expect_status(f, 1, 14, 2, 3);
	send_req(f, 1, 16, BODY(STATUS));
	expect_status_scanning(f, 1, 16, false);
	assert_int_equal(f->ctx->generation, 2);
	assert_int_equal(atomic_load(&gate.calls), 1);
}

/* Requests made while a scan runs share one scan that starts after it: the
 * reply always reflects a scan begun after the request. */
static void
test_rescans_coalesce(void **state)
{
	struct fixture *f = *state;
	send_req(f, 0, 1, BODY(RESCAN));
	wait_scan_started(f);
	atomic_store(&gate.n_devices, 5); /* what the second scan will see */
	send_req(f, 1, 2, BODY(RESCAN));
	send_req(f, 2, 3, BODY(RESCAN));
	assert_int_equal(p2pb_context_request_rescan(f->ctx, "test", NULL), 0);
	assert_no_reply_yet(f, 1);
	assert_int_equal(atomic_load(&gate.calls), 1);

	sem_post(&gate.release); /* scan 1 ends, having built 5 devices */
	expect_rescan_ok(f, 0, 1, 2, 5);
	wait_scan_started(f);
	assert_int_equal(atomic_load(&gate.calls), 2);
	assert_no_reply_yet(f, 1);
	assert_no_reply_yet(f, 2);

	atomic_store(&gate.n_devices, 6);
	sem_post(&gate.release);
	expect_rescan_ok(f, 1, 2, 3, 6);
	expect_rescan_ok(f, 2, 3, 3, 6);
	/* Three requests during scan 1, one scan after it: no third. */
	wire_pump(f->ctx->base);
	assert_false(p2pb_rescan_running(f->ctx->rescan));
	assert_int_equal(sem_trywait(&gate.started), -1);
	assert_int_equal(atomic_load(&gate.calls), 2);
	assert_int_equal(f->ctx->generation, 3);
}

/* A failed scan answers its waiting requests with the reason and keeps the
 * old topology; a request queued behind it gets the next scan. */
static void
test_failed_rescan_answers_waiters(void **state)
{
	struct fixture *f = *state;
	send_req(f, 0, 1, BODY(RESCAN));
	wait_scan_started(f);
	send_req(f, 1, 2, BODY(RESCAN));
	assert_no_reply_yet(f, 1);
	atomic_store(&gate.fail_with, -EIO);
	sem_post(&gate.release);

	P2pbroker__V1__Reply *r = recv_reply(f, 0, 1);
	assert_int_equal(r->status, ST(INTERNAL));
	assert_null(r->rescan);
	assert_non_null(strstr(r->message, strerror(EIO)));
	assert_non_null(strstr(r->message, "/nonexistent/p2pb-test-root"));
	assert_non_null(strstr(r->message, "still serving generation 1"));
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	send_req(f, 2, 3, BODY(STATUS));
	expect_status(f, 2, 3, 1, N_FIRST);

	wait_scan_started(f);
	assert_no_reply_yet(f, 1);
	sem_post(&gate.release);
	expect_rescan_ok(f, 1, 2, 2, 3);
}

/* The real scanner on a root without sys/bus/pci/devices, on the worker. */
static void
test_real_scan_failure_says_why(void **state)
{
	struct fixture *f = *state;
	f->ctx->scan = p2pb_scan;
	send_req(f, 0, 1, BODY(RESCAN));
	P2pbroker__V1__Reply *r = recv_reply(f, 0, 1);
	assert_int_equal(r->status, ST(INTERNAL));
	assert_non_null(strstr(r->message, "no sys/bus/pci/devices there"));
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	assert_int_equal(f->ctx->generation, 1);
}

/* The real scanner on the worker thread, on a tree where libpci's error
 * callback fires (a missing vendor file): the scan survives it there as on
 * the loop thread, twice in a row, and the result is installed. */
static void
test_real_scan_with_libpci_error(void **state)
{
	struct fixture *f = *state;
	struct tree t;
	struct cfg hb, ep;
	tree_init(&t);
	cfg_init(&hb, 0x8086, 0x1237, 0x060000, 2, 0, 256);
	cfg_init(&ep, 0x144d, 0xa824, 0x010802, 1, 0, 4096);
	tree_add(&t, "pci0000:00", "0000:00:00.0", &hb);
	tree_add(&t, "pci0000:00", "0000:00:03.0", &ep);
	tree_remove(&t, "0000:00:03.0", "vendor");
	f->ctx->scan = p2pb_scan;
	f->ctx->opts.root = t.root;
	for (uint64_t id = 1; id <= 2; id++) {
		send_req(f, 0, id, BODY(RESCAN));
		expect_rescan_ok(f, 0, id, 1 + id, 2);
	}
	const struct p2pb_topology *topo = f->ctx->topo;
	int d = p2pb_topology_find(topo, (struct p2pb_bdf){ .dev = 3 });
	assert_true(d >= 0);
	assert_int_equal(topo->devs[d].vendor, 0x144d);
	bool seen = false;
	for (size_t i = 0; i < topo->n_warnings; i++)
		seen |= topo->warnings[i].dev == d && strstr(topo->warnings[i].message, "libpci");
	assert_true(seen);
	tree_cleanup(&t);
}

/* A client that hangs up while its rescan runs costs nothing: the scan is
 * installed, the others are served, the connection is gone. */
static void
test_hang_up_while_deferred(void **state)
{
	struct fixture *f = *state;
	send_req(f, 0, 1, BODY(STATUS));
	send_req(f, 0, 2, BODY(RESCAN));
	wait_scan_started(f);
	close(f->fd[0]); /* with reply 1 unread: the server sees a reset */
	f->fd[0] = -1;
	send_req(f, 1, 3, BODY(RESCAN));
	close(f->fd[1]); /* nothing unread: it sees the end of input */
	f->fd[1] = -1;
	wire_pump(f->ctx->base);
	sem_post(&gate.release);
	wait_scan_started(f); /* client 1's scan */
	sem_post(&gate.release);
	uint64_t deadline = wire_ms() + WIRE_TIMEOUT_MS;
	while (f->ctx->generation < 3 || p2pb_server_n_clients(f->ctx->server) > 1) {
		assert_true(wire_ms() < deadline);
		wire_pump(f->ctx->base);
		poll(NULL, 0, 1);
	}
	send_req(f, 2, 4, BODY(STATUS));
	expect_status(f, 2, 4, 3, 3);
	assert_int_equal(p2pb_server_n_clients(f->ctx->server), 1);
}

static void *
release_later(void *arg)
{
	poll(NULL, 0, 100);
	sem_post(&gate.release);
	return NULL;
}

/* SIGTERM during a scan: freeing the context waits for the worker, frees
 * what it built and the waiting requests (LeakSanitizer checks). */
static void
test_free_while_scanning(void **state)
{
	struct fixture *f = *state;
	send_req(f, 0, 1, BODY(RESCAN));
	wait_scan_started(f);
	send_req(f, 1, 2, BODY(RESCAN)); /* pending behind the running scan */
	assert_no_reply_yet(f, 1);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, release_later, NULL), 0);
	f->ctx = p2pb_context_free(f->ctx);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&gate.calls), 1);
	/* Both connections were closed without a reply. */
	for (int i = 0; i < 2; i++) {
		char c;
		assert_int_equal(read(f->fd[i], &c, 1), 0);
	}
}

/* The start-up scan is synchronous; it refuses to run beside the worker. */
static void
test_sync_scan_refused_while_worker_runs(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(p2pb_context_request_rescan(f->ctx, "test", NULL), 0);
	wait_scan_started(f);
	assert_int_equal(p2pb_context_rescan(f->ctx, "test"), -EBUSY);
	sem_post(&gate.release);
	uint64_t deadline = wire_ms() + WIRE_TIMEOUT_MS;
	while (p2pb_rescan_running(f->ctx->rescan)) {
		assert_true(wire_ms() < deadline);
		wire_pump(f->ctx->base);
		poll(NULL, 0, 1);
	}
	assert_int_equal(f->ctx->generation, 2);
	sem_post(&gate.release); /* the synchronous scan runs on this thread */
	assert_int_equal(p2pb_context_rescan(f->ctx, "test"), 0);
	assert_int_equal(f->ctx->generation, 3);
}

int
main(void)
{
	p2pb_log_init(false, LOG_CRIT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_requests_served_while_scanning, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rescans_coalesce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_rescan_answers_waiters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_real_scan_failure_says_why, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_scan_with_libpci_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hang_up_while_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_while_scanning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_scan_refused_while_worker_runs, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
