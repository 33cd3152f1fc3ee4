/* test_uevent.c - unit tests for PCI uevent handling (daemon/uevent.c): the
 * kernel message filter and the debounce that folds a burst into one rescan.
 * Includes uevent.c to drive the debounce without real uevents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../daemon/uevent.c"

#define MSG(s) s, sizeof(s) - 1

static void
test_filter(void **state)
{
	assert_true(p2pb_uevent_is_pci_change(
		MSG("add@/devices/pci0000:00/0000:00:01.0\0ACTION=add\0DEVPATH=/devices/"
		    "pci0000:00/0000:00:01.0\0SUBSYSTEM=pci\0SEQNUM=7\0")));
	assert_true(p2pb_uevent_is_pci_change(MSG("unbind@/x\0ACTION=unbind\0SUBSYSTEM=pci\0")));
	assert_true(p2pb_uevent_is_pci_change(MSG("remove@/x\0SUBSYSTEM=pci\0ACTION=remove\0")));
	/* Not PCI, not a topology change, or truncated. */
	assert_false(p2pb_uevent_is_pci_change(
		MSG("add@/devices/virtual/net/lo\0ACTION=add\0SUBSYSTEM=net\0")));
	assert_false(p2pb_uevent_is_pci_change(MSG("change@/x\0ACTION=change\0SUBSYSTEM=pci\0")));
	assert_false(p2pb_uevent_is_pci_change(MSG("add@/x\0ACTION=add\0SUBSYSTEM=pci_bus\0")));
	assert_false(p2pb_uevent_is_pci_change(MSG("add@/x\0ACTION=addx\0SUBSYSTEM=pci\0")));
	assert_false(p2pb_uevent_is_pci_change(MSG("add@/x\0ACTION=add\0SUBSYSTEM=pc")));
	assert_false(p2pb_uevent_is_pci_change("", 0));
}

struct counter {
	int calls;
	uint64_t at[8];
};

static void
count(void *arg)
{
	struct counter *c = arg;
	if (c->calls < 8)
		c->at[c->calls] = p2pb_now_usec();
	c->calls++;
}

static void
run_for(struct event_base *base, unsigned msec)
{
	struct timeval tv = { .tv_sec = msec / 1000, .tv_usec = (msec % 1000) * 1000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Three events close together: one callback, after the quiet period. */
static void
test_burst_folds_into_one(void **state)
{
	struct event_base *base = event_base_new();
	struct counter c = { 0 };
	struct p2pb_uevent u = { .base = base, .fn = count, .userdata = &c, .kernel_fd = -1 };
	u.debounce = evtimer_new(base, on_debounce, &u);
	uint64_t last_arm = 0;
	for (int i = 0; i < 3; i++) {
		last_arm = p2pb_now_usec();
		arm_debounce(&u);
		run_for(base, 50);
	}
	assert_int_equal(c.calls, 0);
	run_for(base, P2PB_UEVENT_DEBOUNCE_MSEC + 100);
	assert_int_equal(c.calls, 1);
	/* The quiet period counts from the last event. libevent keeps time with
	 * the coarse monotonic clock (a tick of up to 4 ms), so its timers may
	 * fire up to a tick early as measured by p2pb_now_usec(). */
	assert_true(c.at[0] - last_arm >= (P2PB_UEVENT_DEBOUNCE_MSEC - 10) * 1000u);
	event_free(u.debounce);
	event_base_free(base);
}

/* An endless stream still produces a callback within the maximum delay. */
static void
test_stream_bounded_delay(void **state)
{
	struct event_base *base = event_base_new();
	struct counter c = { 0 };
	struct p2pb_uevent u = { .base = base, .fn = count, .userdata = &c, .kernel_fd = -1 };
	u.debounce = evtimer_new(base, on_debounce, &u);
	uint64_t start = p2pb_now_usec();
	while (c.calls == 0 && p2pb_now_usec() - start < 3 * P2PB_UEVENT_MAX_DELAY_MSEC * 1000u) {
		arm_debounce(&u);
		run_for(base, P2PB_UEVENT_DEBOUNCE_MSEC / 4);
	}
	assert_int_equal(c.calls, 1);
	uint64_t took = c.at[0] - start;
	/* Less a libevent clock tick (see above); a loaded machine may also run
	 * timers late, hence the generous upper bound. */
	assert_true(took >= (P2PB_UEVENT_MAX_DELAY_MSEC - 10) * 1000u);
	assert_true(took < 2 * P2PB_UEVENT_MAX_DELAY_MSEC * 1000u);
	event_free(u.debounce);
	event_base_free(base);
}

int
main(void)
{
	p2pb_log_init(false, LOG_WARNING);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_burst_folds_into_one),
		cmocka_unit_test(test_stream_bounded_delay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
