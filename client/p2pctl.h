/* p2pctl.h - what p2pctl's command files share: the command table entry, the
 * invocation context, exit codes, and helpers for errors, addresses and output. */
#pragma once

#include <json.h>
#include <stdbool.h>
#include <stdio.h>

#include "p2pbroker.h"

enum {
	P2PCTL_EXIT_OK = 0,
	P2PCTL_EXIT_ERROR = 1, /* the daemon refused, or could not be reached */
	P2PCTL_EXIT_USAGE = 2, /* bad arguments: nothing was asked */
};

struct p2pctl {
	const char *socket; /* NULL: $P2PBROKER_SOCKET or the default */
	bool json;
	int timeout_ms;	     /* -1: wait forever */
	const char *command; /* the command's name, for messages */
	struct p2pb_client *client;
};

/* One subcommand. run() gets argv with argv[0] the command name and returns
 * an exit code (P2PCTL_EXIT_*). */
struct p2pctl_command {
	const char *name;
	const char *synopsis; /* arguments, for usage */
	const char *summary;  /* one line, for --help */
	int (*run)(struct p2pctl *ctl, int argc, char **argv);
};

extern const struct p2pctl_command p2pctl_cmd_status;
extern const struct p2pctl_command p2pctl_cmd_topology;
extern const struct p2pctl_command p2pctl_cmd_devices;
extern const struct p2pctl_command p2pctl_cmd_path;
extern const struct p2pctl_command p2pctl_cmd_providers;
extern const struct p2pctl_command p2pctl_cmd_matrix;
extern const struct p2pctl_command p2pctl_cmd_rescan;

/* Connects (once); on failure prints which socket, why and a hint. Returns an
 * exit code: P2PCTL_EXIT_OK or P2PCTL_EXIT_ERROR. */
int p2pctl_connect(struct p2pctl *ctl);

/* Prints "p2pctl: CMD: <what>: <library error>" for a failed request; returns
 * P2PCTL_EXIT_ERROR. */
int p2pctl_request_failed(struct p2pctl *ctl, const char *what, int r);

/* Prints a usage error and the command's synopsis; returns P2PCTL_EXIT_USAGE. */
int p2pctl_usage_error(struct p2pctl *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parses the options every command takes (--json, --help) and checks the
 * number of positional arguments, which are left at argv[*ret_first..]. Returns
 * -1 to go on, or an exit code to return (usage error, or 0 after --help). */
int p2pctl_simple_options(struct p2pctl *ctl, const struct p2pctl_command *cmd, int argc,
			  char **argv, int min_args, int max_args, int *ret_first);

/* Prints the command's usage line to f. */
void p2pctl_command_usage(const struct p2pctl_command *cmd, FILE *f);

/* BDF argument: 0 or, after printing a usage error naming it, P2PCTL_EXIT_USAGE. */
int p2pctl_parse_address(struct p2pctl *ctl, const char *arg, const char *what,
			 struct p2pb_address *ret);

/* ---- output helpers (p2pctl-output.c) ------------------------------------ */

/* Prints o, pretty and with keys in insertion order, then drops the reference.
 * Returns an exit code (an error when o is NULL: out of memory). */
int p2pctl_json_print(json_object *o);

json_object *p2pctl_json_address(struct p2pb_address a);
json_object *p2pctl_json_string_or_null(const char *s); /* "" -> null */
json_object *p2pctl_json_int_or_null(long long v, bool present);
/* Names of the ACS bits set in v, as an array ("SV", "TB", "RR", ...). */
json_object *p2pctl_json_acs_bits(uint16_t v);

/* "RR CR UF" (space separated names of the bits set; "" for none) into buf. */
const char *p2pctl_acs_bits_string(uint16_t v, char *buf, size_t len);
/* "16 MiB", "512 KiB", "100 B" into buf. */
const char *p2pctl_size_string(uint64_t bytes, char *buf, size_t len);
/* "16GT/s x16 (cap 16GT/s x16)" into buf; "" without a link. */
const char *p2pctl_link_string(const struct p2pb_device_info *d, char *buf, size_t len);
/* Names of device warning bits ("config-short", ...). */
const char *p2pctl_device_warning_name(unsigned bit);
