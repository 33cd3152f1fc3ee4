/* uevent.c - PCI uevents through libsystemd's sd-device monitor. The monitor
 * runs on a private sd-event loop whose single fd is watched by the daemon's
 * libevent loop, so there is still one loop that owns every fd. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>
#include <systemd/sd-device.h>
#include <systemd/sd-event.h>

#include "context.h"
#include "log.h"
#include "uevent.h"

struct p2pb_uevent {
	struct event_base *base;
	p2pb_uevent_fn fn;
	void *userdata;
	sd_event *sde;
	sd_device_monitor *mon;
	struct event *io;	/* sd-event's fd became readable */
	struct event *debounce; /* fires when a burst has gone quiet */
	uint64_t burst_start;	/* 0: no burst pending */
};

static void
arm_debounce(struct p2pb_uevent *u)
{
	uint64_t now = p2pb_now_usec();
	if (!u->burst_start)
		u->burst_start = now;
	uint64_t due = now + P2PB_UEVENT_DEBOUNCE_MSEC * 1000u;
	uint64_t latest = u->burst_start + P2PB_UEVENT_MAX_DELAY_MSEC * 1000u;
	if (due > latest)
		due = latest;
	uint64_t wait = due > now ? due - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(wait / 1000000u),
			      .tv_usec = (suseconds_t)(wait % 1000000u) };
	evtimer_add(u->debounce, &tv);
}

static int
on_device(sd_device_monitor *m, sd_device *dev, void *arg)
{
	struct p2pb_uevent *u = arg;
	sd_device_action_t action;
	const char *name = NULL;
	if (sd_device_get_action(dev, &action) < 0)
		return 0;
	sd_device_get_sysname(dev, &name);
	switch (action) {
	case SD_DEVICE_ADD:
	case SD_DEVICE_REMOVE:
	case SD_DEVICE_MOVE:
	/* Binding a driver can publish p2pmem and changes the driver name. */
	case SD_DEVICE_BIND:
	case SD_DEVICE_UNBIND:
		log_dev(LOG_DEBUG, name, "PCI uevent %d", (int)action);
		arm_debounce(u);
		break;
	default:
		break;
	}
	return 0;
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	struct p2pb_uevent *u = arg;
	/* Dispatch everything pending without blocking the daemon's loop. */
	for (int i = 0; i < 64; i++) {
		int r = sd_event_run(u->sde, 0);
		if (r <= 0) {
			if (r < 0)
				log_errno(LOG_WARNING, r, "uevent monitor failed");
			break;
		}
	}
}

static void
on_debounce(evutil_socket_t fd, short what, void *arg)
{
	struct p2pb_uevent *u = arg;
	u->burst_start = 0;
	u->fn(u->userdata);
}

static int
monitor_setup(struct p2pb_uevent *u)
{
	int r = sd_event_new(&u->sde);
	if (r < 0)
		return r;
	r = sd_device_monitor_new(&u->mon);
	if (r < 0)
		return r;
	r = sd_device_monitor_filter_add_match_subsystem_devtype(u->mon, "pci", NULL);
	if (r < 0)
		return r;
	r = sd_device_monitor_attach_event(u->mon, u->sde);
	if (r < 0)
		return r;
	r = sd_device_monitor_start(u->mon, on_device, u);
	if (r < 0)
		return r;
	int fd = sd_event_get_fd(u->sde);
	if (fd < 0)
		return fd;
	u->io = event_new(u->base, fd, EV_READ | EV_PERSIST, on_io, u);
	u->debounce = evtimer_new(u->base, on_debounce, u);
	if (!u->io || !u->debounce || event_add(u->io, NULL) < 0)
		return -ENOMEM;
	return 0;
}

int
p2pb_uevent_new(struct event_base *base, p2pb_uevent_fn fn, void *userdata,
		struct p2pb_uevent **ret)
{
	struct p2pb_uevent *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->base = base;
	u->fn = fn;
	u->userdata = userdata;
	int r = monitor_setup(u);
	if (r < 0) {
		p2pb_uevent_free(u);
		return r;
	}
	*ret = u;
	return 0;
}

struct p2pb_uevent *
p2pb_uevent_free(struct p2pb_uevent *u)
{
	if (!u)
		return NULL;
	if (u->io)
		event_free(u->io);
	if (u->debounce)
		event_free(u->debounce);
	sd_device_monitor_unref(u->mon);
	sd_event_unref(u->sde);
	free(u);
	return NULL;
}
