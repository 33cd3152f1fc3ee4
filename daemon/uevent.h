/* uevent.h - PCI hot-plug notification: watches add/remove/bind/unbind
 * uevents of the "pci" subsystem and reports each burst once, debounced. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct p2pb_uevent;

/* Quiet time after the last uevent of a burst before fn runs. */
#define P2PB_UEVENT_DEBOUNCE_MSEC 200
/* A steady stream of uevents still triggers fn at least this often. */
#define P2PB_UEVENT_MAX_DELAY_MSEC 2000

typedef void (*p2pb_uevent_fn)(void *userdata);

/* Whether a kernel uevent message ("ACTION@DEVPATH\0KEY=VALUE\0...") is an
 * add/remove/move/bind/unbind of a PCI device. */
bool p2pb_uevent_is_pci_change(const char *msg, size_t len);

/* Watch PCI uevents on base: through udev (sd-device monitor) when udevd
 * runs, else straight from the kernel's uevent netlink group (minimal
 * systems, test guests). Returns 0 or -errno; *ret untouched on failure. */
int p2pb_uevent_new(struct event_base *base, p2pb_uevent_fn fn, void *userdata,
		    struct p2pb_uevent **ret);
struct p2pb_uevent *p2pb_uevent_free(struct p2pb_uevent *u);
