/* p2pctl.c - the p2pctl command line: global options, the command table, and
 * the error and usage handling every command shares. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "p2pctl.h"
#include "protocol.h"

static const struct p2pctl_command *const commands[] = {
	&p2pctl_cmd_status,    &p2pctl_cmd_topology, &p2pctl_cmd_devices, &p2pctl_cmd_path,
	&p2pctl_cmd_providers, &p2pctl_cmd_matrix,   &p2pctl_cmd_rescan,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	fprintf(f, "Usage: p2pctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
		   "       p2pctl --help | --version\n\n"
		   "Shows the PCIe topology and P2P DMA verdicts that p2pbrokerd serves.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char head[64];

		snprintf(head, sizeof(head), "%s %s", commands[i]->name, commands[i]->synopsis);
		if (strlen(head) > 36) /* the summary goes on its own line */
			fprintf(f, "  %s\n  %-36s %s\n", head, "", commands[i]->summary);
		else
			fprintf(f, "  %-36s %s\n", head, commands[i]->summary);
	}
	fprintf(f,
		"\nOptions:\n"
		"  -s, --socket PATH     daemon socket (default: $P2PBROKER_SOCKET, else %s)\n"
		"  -j, --json            print JSON (see docs/json.md)\n"
		"  -t, --timeout SECONDS give up on the daemon after this long (default 30; 0: "
		"never)\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n\n"
		"Addresses are DDDD:BB:DD.F or BB:DD.F (domain 0).\n"
		"Exit status: 0 success, 1 error (daemon refused or unreachable), 2 usage error.\n",
		P2PB_DEFAULT_SOCKET);
}

void
p2pctl_command_usage(const struct p2pctl_command *cmd, FILE *f)
{
	fprintf(f, "Usage: p2pctl [--socket PATH] [--json] %s %s\n  %s\n", cmd->name, cmd->synopsis,
		cmd->summary);
}

static const struct p2pctl_command *
find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

int
p2pctl_usage_error(struct p2pctl *ctl, const char *fmt, ...)
{
	const struct p2pctl_command *cmd = ctl && ctl->command ? find_command(ctl->command) : NULL;
	va_list ap;

	fputs("p2pctl: ", stderr);
	if (cmd)
		fprintf(stderr, "%s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd)
		p2pctl_command_usage(cmd, stderr);
	else
		fputs("Try 'p2pctl --help'.\n", stderr);
	return P2PCTL_EXIT_USAGE;
}

int
p2pctl_parse_address(struct p2pctl *ctl, const char *arg, const char *what,
		     struct p2pb_address *ret)
{
	if (p2pb_address_parse(arg, ret) < 0)
		return p2pctl_usage_error(
			ctl, "%s '%s' is not a PCI address (DDDD:BB:DD.F or BB:DD.F)", what, arg);
	return 0;
}

int
p2pctl_simple_options(struct p2pctl *ctl, const struct p2pctl_command *cmd, int argc, char **argv,
		      int min_args, int max_args, int *ret_first)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, n;

	optind = 0; /* glibc: restart scanning on this new argv */
	while ((c = getopt_long(argc, argv, "+:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ctl->json = true;
			break;
		case 'h':
			p2pctl_command_usage(cmd, stdout);
			return P2PCTL_EXIT_OK;
		default:
			return p2pctl_usage_error(ctl, "unknown option '%s'", argv[optind - 1]);
		}
	}
	n = argc - optind;
	if (n < min_args)
		return p2pctl_usage_error(ctl, "missing argument");
	if (n > max_args)
		return p2pctl_usage_error(ctl, "unexpected argument '%s'", argv[optind + max_args]);
	*ret_first = optind;
	return -1;
}

static const char *
connect_hint(int r)
{
	switch (r) {
	case -ENOENT:
	case -ECONNREFUSED:
		return "is p2pbrokerd running? see 'systemctl status p2pbrokerd', or pass "
		       "--socket PATH";
	case -EACCES:
	case -EPERM:
		return "the socket is only open to root and its group; run as root or join that "
		       "group";
	case -ETIMEDOUT:
	case -EAGAIN:
		return "p2pbrokerd is not accepting connections; see 'systemctl status p2pbrokerd'";
	default:
		return NULL;
	}
}

int
p2pctl_connect(struct p2pctl *ctl)
{
	const char *path = p2pb_socket_path(ctl->socket);
	const char *hint;
	int r;

	if (ctl->client)
		return P2PCTL_EXIT_OK;
	r = p2pb_connect(ctl->socket, &ctl->client);
	if (r < 0) {
		fprintf(stderr, "p2pctl: cannot connect to %s: %s\n", path, strerror(-r));
		hint = connect_hint(r);
		if (hint)
			fprintf(stderr, "hint: %s\n", hint);
		return P2PCTL_EXIT_ERROR;
	}
	p2pb_set_timeout(ctl->client, ctl->timeout_ms);
	return P2PCTL_EXIT_OK;
}

int
p2pctl_request_failed(struct p2pctl *ctl, const char *what, int r)
{
	const char *msg = p2pb_last_error(ctl->client);

	fprintf(stderr, "p2pctl: %s: %s\n", what, *msg ? msg : strerror(-r));
	if (r == -ETIMEDOUT)
		fprintf(stderr, "hint: the daemon may be stuck; see 'systemctl status p2pbrokerd', "
				"or raise --timeout\n");
	return P2PCTL_EXIT_ERROR;
}

/* --timeout: seconds, fractions allowed; 0 waits forever. */
static int
parse_timeout(const char *s, int *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* Written so that NaN fails too. */
	if (errno || end == s || *end || !(v >= 0 && v <= 86400.0 * 24))
		return -EINVAL;
	*ret = v == 0 ? -1 : (int)(v * 1000 + 0.999);
	return 0;
}

/* Global options; returns -1 to go on with the command at argv[*ret_cmd], or
 * an exit code. */
static int
parse_global(struct p2pctl *ctl, int argc, char **argv, int *ret_cmd)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },  { "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	     { 0 },
	};
	int c;

	/* '+': stop at the command, whose own options follow it. */
	while ((c = getopt_long(argc, argv, "+:s:jt:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl->socket = optarg;
			break;
		case 'j':
			ctl->json = true;
			break;
		case 't':
			if (parse_timeout(optarg, &ctl->timeout_ms) < 0)
				return p2pctl_usage_error(NULL, "bad --timeout '%s' (seconds)",
							  optarg);
			break;
		case 'h':
			usage(stdout);
			return P2PCTL_EXIT_OK;
		case 'V':
			printf("p2pctl %s (libp2pbroker %s)\n", P2PB_VERSION,
			       p2pb_library_version());
			return P2PCTL_EXIT_OK;
		case ':':
			return p2pctl_usage_error(NULL, "option '%s' needs an argument",
						  argv[optind - 1]);
		default:
			return p2pctl_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return p2pctl_usage_error(NULL, "no command given");
	*ret_cmd = optind;
	return -1;
}

int
main(int argc, char **argv)
{
	struct p2pctl ctl = { .timeout_ms = 30000 };
	const struct p2pctl_command *cmd;
	int first = 0, r;

	r = parse_global(&ctl, argc, argv, &first);
	if (r >= 0)
		return r;
	cmd = find_command(argv[first]);
	if (!cmd)
		return p2pctl_usage_error(NULL, "unknown command '%s'", argv[first]);
	ctl.command = cmd->name;
	r = cmd->run(&ctl, argc - first, argv + first);
	p2pb_disconnect(ctl.client);
	/* Output goes through stdio: a write error (full disk, closed pipe)
	 * shows up only now, and must not pass for success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "p2pctl: writing output: %s\n", strerror(errno));
		return P2PCTL_EXIT_ERROR;
	}
	return r;
}
