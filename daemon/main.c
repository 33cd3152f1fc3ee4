/* main.c - p2pbrokerd: options, logging target, --check, start-up and clean
 * shutdown around the context that owns the daemon's state. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context.h"
#include "log.h"
#include "protocol.h"
#include "scan.h"

/* Exit codes, documented in docs/protocol.md and --help. */
enum {
	EXIT_OK = 0,
	EXIT_FAILURE_RUN = 1, /* could not start, or failed while running */
	EXIT_USAGE = 2,
};

static const char usage_text[] =
	"Usage: p2pbrokerd [OPTIONS]\n"
	"Serve the PCIe topology and kernel-exact P2P DMA verdicts on a Unix socket.\n"
	"\n"
	"  -r, --root DIR         read DIR/sys and DIR/proc instead of the real system\n"
	"  -s, --socket PATH      listen on PATH when not socket-activated\n"
	"                         (default " P2PB_DEFAULT_SOCKET ")\n"
	"  -f, --foreground       do not detach (the default under systemd)\n"
	"  -l, --log-level LEVEL  err, warning, notice, info (default) or debug\n"
	"      --ready-fd N       write \"READY=1\\n\" to fd N and close it once serving\n"
	"  -n, --check            scan once, print a summary and the warnings, exit\n"
	"  -V, --version          print the version and exit\n"
	"  -h, --help             print this help and exit\n"
	"\n"
	"Exit status: 0 success (--check: the topology could be read), 1 start-up or\n"
	"run-time failure (--check: the scan failed), 2 usage error.\n"
	"Signals: SIGTERM/SIGINT stop, SIGHUP rescans.\n";

struct args {
	struct p2pb_options opts;
	bool check;
	bool version;
	bool help;
};

static const struct {
	const char *name;
	int level;
} log_levels[] = {
	{ "err", LOG_ERR },	  { "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
};

static int
parse_log_level(const char *s, int *ret)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcasecmp(s, log_levels[i].name) == 0) {
			*ret = log_levels[i].level;
			return 0;
		}
	char *end;
	long v = strtol(s, &end, 10);
	if (*s && !*end && v >= LOG_ERR && v <= LOG_DEBUG) {
		*ret = (int)v;
		return 0;
	}
	return -EINVAL;
}

static int
parse_fd(const char *s, int *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 0 || v > INT_MAX || fcntl((int)v, F_GETFD) < 0)
		return -EBADF;
	*ret = (int)v;
	return 0;
}

enum { OPT_READY_FD = 0x100 };

/* Returns 0, or -EINVAL after printing what was wrong. */
static int
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "ready-fd", required_argument, NULL, OPT_READY_FD },
		{ "check", no_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "r:s:fl:nVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			a->opts.root = optarg;
			break;
		case 's':
			a->opts.socket_path = optarg;
			break;
		case 'f':
			a->opts.foreground = true;
			break;
		case 'l':
			if (parse_log_level(optarg, &a->opts.log_level) < 0) {
				fprintf(stderr, "p2pbrokerd: unknown log level '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_READY_FD:
			if (parse_fd(optarg, &a->opts.ready_fd) < 0) {
				fprintf(stderr, "p2pbrokerd: --ready-fd %s is not an open fd\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'n':
			a->check = true;
			break;
		case 'V':
			a->version = true;
			break;
		case 'h':
			a->help = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "p2pbrokerd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Under systemd, stderr is connected to the journal exactly when
 * JOURNAL_STREAM names stderr's device and inode (systemd.exec(5)); a variable
 * merely inherited from a service that started us must not hide our logs. */
static bool
stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static bool
under_systemd(void)
{
	return getenv("NOTIFY_SOCKET") || getenv("LISTEN_FDS") || stderr_is_journal();
}

static int
run_check(const char *root)
{
	struct p2pb_topology *t = NULL;
	int r = p2pb_scan(root, &t);
	if (r < 0) {
		/* ENOENT: no sys/bus/pci/devices under the root (a mistyped --root). */
		log_errno(LOG_ERR, r, "cannot scan %s%s", root ? root : "/",
			  r == -ENOENT ? " (no sys/bus/pci/devices there)" : "");
		return EXIT_FAILURE_RUN;
	}
	size_t providers = 0;
	for (size_t i = 0; i < t->n_devs; i++)
		providers += t->devs[i].p2pmem.present && t->devs[i].p2pmem.published;
	printf("%s: %zu devices, %zu host bridges, %zu switches, %zu providers, %zu warnings\n",
	       root ? root : "/", t->n_devs, t->n_hostbridges, t->n_switches, providers,
	       t->n_warnings);
	for (size_t i = 0; i < t->n_warnings; i++) {
		const struct p2pb_warning *w = &t->warnings[i];
		char bdf[P2PB_BDF_STRLEN] = "topology";
		if (w->dev >= 0 && (size_t)w->dev < t->n_devs)
			p2pb_bdf_format(t->devs[w->dev].bdf, bdf);
		printf("warning: %s: %s\n", bdf, w->message);
	}
	p2pb_topology_free(t);
	return EXIT_OK;
}

/* Detaches from the terminal; the parent exits only once the child is
 * serving (or has failed), so "p2pbrokerd && p2pctl status" works. Returns
 * in the child with *ready_fd set; never returns in the parent. */
static int
daemonize(int *ready_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		char buf[16];
		ssize_t n = read(p[0], buf, sizeof(buf));
		_exit(n > 0 ? EXIT_OK : EXIT_FAILURE_RUN);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		/* stderr stays: it is where the caller asked our logs to go. */
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	*ready_fd = p[1];
	return 0;
}

static int
serve(const struct p2pb_options *opts)
{
	struct p2pb_context *ctx = NULL;
	int r = p2pb_context_new(opts, &ctx);
	if (r < 0) {
		log_errno(LOG_ERR, r, "cannot set up the daemon");
		if (opts->ready_fd >= 0)
			close(opts->ready_fd);
		return EXIT_FAILURE_RUN;
	}
	r = p2pb_context_rescan(ctx, "start-up");
	if (r >= 0)
		r = p2pb_context_start(ctx);
	if (r >= 0)
		r = p2pb_context_run(ctx);
	p2pb_context_free(ctx);
	return r < 0 ? EXIT_FAILURE_RUN : EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct args a = { .opts = { .socket_path = P2PB_DEFAULT_SOCKET,
				    .log_level = LOG_INFO,
				    .ready_fd = -1 } };
	if (parse_args(argc, argv, &a) < 0) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (a.help) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	if (a.version) {
		printf("p2pbrokerd %s (protocol %d)\n", P2PB_VERSION, P2PB_PROTOCOL_VERSION);
		return EXIT_OK;
	}
	bool systemd = under_systemd();
	p2pb_log_init(stderr_is_journal(), a.opts.log_level);
	if (a.check)
		return run_check(a.opts.root);
	/* systemd supervises the process it started: never fork under it. */
	if (!a.opts.foreground && !systemd && a.opts.ready_fd < 0) {
		int r = daemonize(&a.opts.ready_fd);
		if (r < 0) {
			log_errno(LOG_ERR, r, "cannot detach into the background");
			return EXIT_FAILURE_RUN;
		}
	}
	return serve(&a.opts);
}
