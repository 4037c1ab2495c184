/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "conf/config-load.h"
#include "engine/lifecycle.h"
#include "basic/log.h"
#include "basic/wipe-alloc.h"
#include "store/seal.h"
#include "store/vault.h"

#define EXIT_USAGE  64 /* EX_USAGE */
#define EXIT_CONFIG 78 /* EX_CONFIG */

static void help(void)
{
	printf("Usage: igtokend [-c FILE]\n"
	       "       igtokend --check-config [-c FILE]\n"
	       "       igtokend --keygen FILE\n"
	       "       igtokend --rotate-key NEWFILE [-c FILE]\n"
	       "       igtokend --version | --help\n"
	       "\n"
	       "Keeps Instagram and Meta Graph API long-lived access tokens alive.\n"
	       "\n"
	       "  -c, --config FILE      configuration (default: $IGTOKEND_CONFIG, else %s)\n"
	       "      --check-config     report every problem in the configuration and exit\n"
	       "      --keygen FILE      write a new random vault key to FILE (mode 0600)\n"
	       "      --rotate-key NEW   re-seal the vault under the key in NEW (daemon stopped)\n"
	       "      --version          print the version\n"
	       "  -h, --help             print this help\n"
	       "\n"
	       "Exit codes: 0 clean stop, 64 usage, 78 bad configuration, 1 other failure.\n",
	       CONFIG_DEFAULT_PATH);
}

/* Secrets must never reach a core dump or another process's ptrace. */
static int harden_process(void)
{
	struct rlimit rl = { 0, 0 }, cur;

	umask(077);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return negative_errno();
	/* under systemd, LimitCORE=0 has done it and the syscall filter may deny setrlimit */
	if (getrlimit(RLIMIT_CORE, &cur) < 0 || cur.rlim_cur != 0 || cur.rlim_max != 0) {
		if (setrlimit(RLIMIT_CORE, &rl) < 0)
			return negative_errno();
	}
	if (sodium_init() < 0)
		return -EIO;
	/* cJSON copies tokens (requests, Meta's answers): its memory is wiped when freed */
	wipe_install_cjson();
	return 0;
}

static int check_config(const char *path)
{
	_cleanup_(config_freep) struct config *c = NULL;
	struct config_diag diag = { 0 };
	struct config_env env;
	int r;

	config_env_from_environment(&env);
	r = config_load(path, &env, &c, &diag);
	for (size_t i = 0; i < diag.n_lines; i++)
		fprintf(stderr, "%s\n", diag.lines[i]);
	if (r < 0) {
		if (diag.n_errors == 0)
			fprintf(stderr, "%s: error: %s\n", path, strerror(-r));
		fprintf(stderr, "%s: %zu error(s), %zu warning(s)\n", path, diag.n_errors,
			diag.n_warnings);
		config_diag_clear(&diag);
		return EXIT_CONFIG;
	}
	config_diag_clear(&diag);
	printf("%s: ok (%zu apps, %zu accounts)\n", path, c->n_apps, c->n_accounts);
	return 0;
}

enum mode { MODE_RUN, MODE_CHECK, MODE_KEYGEN, MODE_ROTATE };

int main(int argc, char **argv)
{
	enum { OPT_CHECK = 0x100, OPT_KEYGEN, OPT_ROTATE, OPT_VERSION };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "keygen", required_argument, NULL, OPT_KEYGEN },
		{ "rotate-key", required_argument, NULL, OPT_ROTATE },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *config_path = NULL, *key_arg = NULL;
	enum mode mode = MODE_RUN;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case OPT_CHECK:
		case OPT_KEYGEN:
		case OPT_ROTATE:
			if (mode != MODE_RUN) {
				fprintf(stderr, "igtokend: only one of --check-config, --keygen, "
						"--rotate-key\n");
				return EXIT_USAGE;
			}
			mode = c == OPT_CHECK	 ? MODE_CHECK
			       : c == OPT_KEYGEN ? MODE_KEYGEN
						 : MODE_ROTATE;
			key_arg = optarg;
			break;
		case OPT_VERSION: printf("igtokend %s\n", IGTOKEND_VERSION); return 0;
		case 'h': help(); return 0;
		default: fprintf(stderr, "Try 'igtokend --help'.\n"); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "igtokend: unexpected argument '%s'\nTry 'igtokend --help'.\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (mode == MODE_KEYGEN && config_path) {
		fprintf(stderr, "igtokend: --keygen takes no configuration\n");
		return EXIT_USAGE;
	}
	if (!config_path)
		config_path = secure_getenv("IGTOKEND_CONFIG");
	if (!config_path || !*config_path)
		config_path = CONFIG_DEFAULT_PATH;

	r = harden_process();
	if (r < 0) {
		fprintf(stderr, "igtokend: cannot harden the process: %s\n", strerror(-r));
		return 1;
	}
	log_setup();

	switch (mode) {
	case MODE_CHECK: return check_config(config_path);
	case MODE_KEYGEN:
		r = seal_keygen(key_arg);
		if (r < 0) {
			fprintf(stderr, "%s: error: cannot write a new key: %s\n", key_arg,
				r == -EEXIST ? "the file exists (refusing to overwrite)"
					     : strerror(-r));
			return 1;
		}
		printf("%s: new vault key written (mode 0600)\n", key_arg);
		return 0;
	case MODE_ROTATE: return lifecycle_rotate_key(config_path, key_arg);
	case MODE_RUN:
	default: return lifecycle_run(config_path);
	}
}
