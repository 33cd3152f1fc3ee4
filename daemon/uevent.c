/* uevent.c - PCI uevents through libsystemd's sd-device monitor, or from the
 * kernel's netlink group where no udevd runs. The monitor runs on a private
 * sd-event loop whose single fd is watched by the daemon's libevent loop, so
 * there is still one loop that owns every fd. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>

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
	int kernel_fd;		/* NETLINK_KOBJECT_UEVENT socket, or -1 */
	struct event *io;	/* sd-event's or the netlink fd became readable */
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

/* The udev group carries nothing when udevd does not run. */
#define UDEV_CONTROL	    "/run/udev/control"
#define KERNEL_UEVENT_GROUP 1u
#define UEVENT_BUFFER	    8192

bool
p2pb_uevent_is_pci_change(const char *msg, size_t len)
{
	static const char *const actions[] = { "add", "remove", "move", "bind", "unbind" };
	bool pci = false, wanted = false;
	for (size_t off = 0; off < len;) {
		const char *kv = msg + off;
		size_t n = strnlen(kv, len - off);
		if (n == 13 && memcmp(kv, "SUBSYSTEM=pci", 13) == 0)
			pci = true;
		if (n > 7 && memcmp(kv, "ACTION=", 7) == 0)
			for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
				if (strlen(actions[i]) == n - 7 &&
				    memcmp(kv + 7, actions[i], n - 7) == 0)
					wanted = true;
		off += n + 1;
	}
	return pci && wanted;
}

static void
on_kernel_msg(evutil_socket_t fd, short what, void *arg)
{
	struct p2pb_uevent *u = arg;
	char buf[UEVENT_BUFFER];
	for (;;) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		ssize_t n =
			recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			/* ENOBUFS: events were lost, so rescan to be sure. */
			if (errno == ENOBUFS)
				arm_debounce(u);
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			return;
		}
		/* Only the kernel (port id 0) speaks for the hardware. */
		if (fl == sizeof(from) && from.nl_pid == 0 &&
		    p2pb_uevent_is_pci_change(buf, (size_t)n))
			arm_debounce(u);
	}
}

static int
kernel_setup(struct p2pb_uevent *u)
{
	u->kernel_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			      NETLINK_KOBJECT_UEVENT);
	if (u->kernel_fd < 0)
		return -errno;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = KERNEL_UEVENT_GROUP };
	if (bind(u->kernel_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	u->io = event_new(u->base, u->kernel_fd, EV_READ | EV_PERSIST, on_kernel_msg, u);
	if (!u->io || event_add(u->io, NULL) < 0)
		return -ENOMEM;
	log_debug("watching PCI uevents from the kernel (udevd is not running)");
	return 0;
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
	if (!u->io || event_add(u->io, NULL) < 0)
		return -ENOMEM;
	log_debug("watching PCI uevents through udev");
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
	u->kernel_fd = -1;
	u->debounce = evtimer_new(base, on_debounce, u);
	int r = !u->debounce			  ? -ENOMEM
		: access(UDEV_CONTROL, F_OK) == 0 ? monitor_setup(u)
						  : kernel_setup(u);
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
	if (u->kernel_fd >= 0)
		close(u->kernel_fd);
	sd_device_monitor_unref(u->mon);
	sd_event_unref(u->sde);
	free(u);
	return NULL;
}
