/* libp2pbroker-names.c - PCI addresses as text both ways, and the names of
 * verdicts, port types and link speeds that clients print. */
#include <errno.h>
#include <stdio.h>

#include "libp2pbroker-internal.h"
#include "topology.h"

/* The public constants repeat topology.h's values (the wire carries those). */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(P2PB_PORT_ROOT_PORT, P2PB_PT_ROOT_PORT) &&
		       SAME(P2PB_PORT_CONVENTIONAL, P2PB_PT_CONVENTIONAL) &&
		       SAME(P2PB_PORT_RC_EVENT_COLLECTOR, P2PB_PT_RC_EVENT_COLLECTOR),
	       "port type values differ from topology.h");
_Static_assert(SAME(P2PB_DEVICE_WARN_CONFIG_MISSING, P2PB_DW_CONFIG_MISSING) &&
		       SAME(P2PB_DEVICE_WARN_P2PMEM_GARBLED, P2PB_DW_P2PMEM_GARBLED) &&
		       SAME(P2PB_DEVICE_WARN_ACS_UNKNOWN, P2PB_DW_ACS_UNKNOWN),
	       "device warning bits differ from topology.h");
_Static_assert(SAME(P2PB_P2P_BUS_ADDR, P2PBROKER__V1__MAP_TYPE__MAP_BUS_ADDR) &&
		       SAME(P2PB_P2P_THRU_HOST_BRIDGE,
			    P2PBROKER__V1__MAP_TYPE__MAP_THRU_HOST_BRIDGE) &&
		       SAME(P2PB_P2P_NOT_SUPPORTED, P2PBROKER__V1__MAP_TYPE__MAP_NOT_SUPPORTED),
	       "map values differ from the wire");

static int
hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Reads 1..max_digits hex digits up to a terminator; NULL on anything else. */
static const char *
hex_field(const char *s, int max_digits, char term, uint32_t *ret)
{
	uint32_t v = 0;
	int n = 0, d;

	while ((d = hex_digit(*s)) >= 0) {
		if (++n > max_digits)
			return NULL;
		v = v << 4 | (uint32_t)d;
		s++;
	}
	if (n == 0 || *s != term)
		return NULL;
	*ret = v;
	return term ? s + 1 : s;
}

int
p2pb_address_parse(const char *s, struct p2pb_address *ret)
{
	uint32_t domain = 0, bus, dev, fn;
	const char *p;
	int colons = 0;

	if (!s || !ret)
		return -EINVAL;
	for (p = s; *p; p++)
		colons += *p == ':';
	p = s;
	if (colons == 2)
		p = hex_field(p, 8, ':', &domain);
	else if (colons != 1)
		return -EINVAL;
	if (p)
		p = hex_field(p, 2, ':', &bus);
	if (p)
		p = hex_field(p, 2, '.', &dev);
	if (p)
		p = hex_field(p, 1, '\0', &fn);
	if (!p || dev > 0x1f || fn > 7)
		return -EINVAL;
	*ret = (struct p2pb_address){
		.domain = domain, .bus = (uint8_t)bus, .dev = (uint8_t)dev, .fn = (uint8_t)fn
	};
	return 0;
}

char *
p2pb_address_format(struct p2pb_address a, char *buf)
{
	snprintf(buf, P2PB_ADDRESS_STRLEN, "%04x:%02x:%02x.%x", a.domain, a.bus, a.dev, a.fn);
	return buf;
}

int
p2pb_address_compare(struct p2pb_address a, struct p2pb_address b)
{
	if (a.domain != b.domain)
		return a.domain < b.domain ? -1 : 1;
	if (a.bus != b.bus)
		return a.bus < b.bus ? -1 : 1;
	if (a.dev != b.dev)
		return a.dev < b.dev ? -1 : 1;
	if (a.fn != b.fn)
		return a.fn < b.fn ? -1 : 1;
	return 0;
}

int
p2pbc_address_from_wire(struct p2pb_client *c, const P2pbroker__V1__Bdf *b, const char *what,
			struct p2pb_address *ret)
{
	if (!b)
		return p2pbc_fail(c, -EPROTO, "reply lacks the address of %s", what);
	if (b->bus > 0xff || b->dev > 0x1f || b->fn > 7)
		return p2pbc_fail(c, -EPROTO, "reply has an invalid address for %s (%x:%x:%x.%x)",
				  what, b->domain, b->bus, b->dev, b->fn);
	*ret = (struct p2pb_address){ .domain = b->domain,
				      .bus = (uint8_t)b->bus,
				      .dev = (uint8_t)b->dev,
				      .fn = (uint8_t)b->fn };
	return 0;
}

void
p2pbc_address_to_wire(struct p2pb_address a, P2pbroker__V1__Bdf *ret)
{
	p2pbroker__v1__bdf__init(ret);
	ret->domain = a.domain;
	ret->bus = a.bus;
	ret->dev = a.dev;
	ret->fn = a.fn;
}

const char *
p2pb_p2p_map_name(enum p2pb_p2p_map m)
{
	static const char *const names[] = {
		[P2PB_P2P_UNKNOWN] = "unknown",
		[P2PB_P2P_NOT_SUPPORTED] = "not-supported",
		[P2PB_P2P_BUS_ADDR] = "bus-addr",
		[P2PB_P2P_THRU_HOST_BRIDGE] = "thru-host-bridge",
	};

	if ((unsigned)m < sizeof(names) / sizeof(names[0]))
		return names[m];
	return "unknown";
}

const char *
p2pb_port_type_string(uint16_t port_type)
{
	static const char *const names[] = {
		[P2PB_PORT_ENDPOINT] = "endpoint",
		[P2PB_PORT_LEGACY_ENDPOINT] = "legacy-endpoint",
		[P2PB_PORT_ROOT_PORT] = "root-port",
		[P2PB_PORT_SWITCH_UPSTREAM] = "switch-upstream",
		[P2PB_PORT_SWITCH_DOWNSTREAM] = "switch-downstream",
		[P2PB_PORT_PCIE_TO_PCI] = "pcie-to-pci-bridge",
		[P2PB_PORT_PCI_TO_PCIE] = "pci-to-pcie-bridge",
		[P2PB_PORT_RC_INTEGRATED] = "rc-integrated",
		[P2PB_PORT_RC_EVENT_COLLECTOR] = "rc-event-collector",
	};

	if (port_type == P2PB_PORT_CONVENTIONAL)
		return "conventional-pci";
	if (port_type < sizeof(names) / sizeof(names[0]) && names[port_type])
		return names[port_type];
	return "unknown";
}

const char *
p2pb_link_speed_string(uint8_t code)
{
	static const char *const names[] = {
		[1] = "2.5GT/s", [2] = "5GT/s",	 [3] = "8GT/s",
		[4] = "16GT/s",	 [5] = "32GT/s", [6] = "64GT/s",
	};

	if (code < sizeof(names) / sizeof(names[0]) && names[code])
		return names[code];
	return "unknown";
}
