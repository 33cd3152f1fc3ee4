/* p2pctl-output.c - formatting p2pctl's commands share: JSON printing and
 * values (addresses, ACS bits, sizes, links) as text and as JSON. */
#include <inttypes.h>
#include <string.h>

#include "p2pctl.h"

int
p2pctl_json_print(json_object *o)
{
	/* No slash escaping: "16GT/s" and paths stay readable. */
	const char *s;

	if (!o) {
		fputs("p2pctl: out of memory building JSON\n", stderr);
		return P2PCTL_EXIT_ERROR;
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	fputs(s, stdout);
	fputc('\n', stdout);
	json_object_put(o);
	return P2PCTL_EXIT_OK;
}

json_object *
p2pctl_json_address(struct p2pb_address a)
{
	char buf[P2PB_ADDRESS_STRLEN];

	return json_object_new_string(p2pb_address_format(a, buf));
}

json_object *
p2pctl_json_string_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

json_object *
p2pctl_json_int_or_null(long long v, bool present)
{
	return present ? json_object_new_int64(v) : NULL;
}

/* ACS Capability/Control bits in register order (PCIe 7.7.8). */
static const char *const acs_bit_names[] = { "SV", "TB", "RR", "CR", "UF", "EC", "DT" };
#define N_ACS_BITS (sizeof(acs_bit_names) / sizeof(acs_bit_names[0]))

json_object *
p2pctl_json_acs_bits(uint16_t v)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < N_ACS_BITS; i++)
		if (v & (1u << i))
			json_object_array_add(a, json_object_new_string(acs_bit_names[i]));
	return a;
}

const char *
p2pctl_acs_bits_string(uint16_t v, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_ACS_BITS; i++) {
		int n;

		if (!(v & (1u << i)))
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", acs_bit_names[i]);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

const char *
p2pctl_size_string(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	size_t u = 0;
	uint64_t whole = bytes;

	/* Whole units when exact (p2pmem sizes usually are), else one decimal. */
	while (whole >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		whole /= 1024;
		u++;
	}
	if (u == 0 || (bytes & ((UINT64_C(1) << (10 * u)) - 1)) == 0)
		snprintf(buf, len, "%" PRIu64 " %s", whole, units[u]);
	else
		snprintf(buf, len, "%.1f %s", (double)bytes / (double)(UINT64_C(1) << (10 * u)),
			 units[u]);
	return buf;
}

const char *
p2pctl_link_string(const struct p2pb_device_info *d, char *buf, size_t len)
{
	/* RC-integrated functions have a PCIe capability but no link. */
	if (!d->has_link || (!d->link_width && !d->link_cap_width))
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%s x%u (cap %s x%u)", p2pb_link_speed_string(d->link_speed),
			 d->link_width, p2pb_link_speed_string(d->link_cap_speed),
			 d->link_cap_width);
	return buf;
}

const char *
p2pctl_device_warning_name(unsigned bit)
{
	static const char *const names[] = {
		"config-missing", "config-short",   "cap-loop",	      "sysfs-attr",
		"bus-mismatch",	  "parent-unknown", "p2pmem-garbled", "acs-unknown",
	};

	return bit < sizeof(names) / sizeof(names[0]) ? names[bit] : "unknown";
}
