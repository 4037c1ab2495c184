/* SPDX-License-Identifier: MIT */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include "basic/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "basic/util.h"

/* One log line is cut at this many bytes. */
#define LOG_LINE_MAX 2048

static int max_level = LOG_INFO;
static bool to_journal = false;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",	  [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

static bool stderr_is_journal(void)
{
	const char *e = secure_getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void log_setup(void)
{
	const char *l = secure_getenv("IGTOKEND_LOG_LEVEL");

	to_journal = stderr_is_journal();
	if (l) {
		for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
			if (streq(l, level_names[i]))
				max_level = (int)i;
	}
}

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_set_fd(int fd)
{
	log_fd = fd;
	to_journal = false;
}

static void write_journal(int level, int error, const char *message_id, const char *account,
			  const char *app, const char *state, const char *msg)
{
	char f[8][LOG_LINE_MAX + 32];
	struct iovec iov[8];
	size_t n = 0;

#define FIELD(fmt, ...)                                                                            \
	do {                                                                                       \
		int k = snprintf(f[n], sizeof(f[n]), fmt, __VA_ARGS__);                            \
		iov[n] = (struct iovec){ f[n], (size_t)MIN(k, (int)sizeof(f[n]) - 1) };            \
		n++;                                                                               \
	} while (0)

	FIELD("MESSAGE=%s", msg);
	FIELD("PRIORITY=%d", level);
	if (account)
		FIELD("ACCOUNT=%s", account);
	if (app)
		FIELD("APP=%s", app);
	if (state)
		FIELD("STATE=%s", state);
	if (error)
		FIELD("ERRNO=%d", error < 0 ? -error : error);
	if (message_id)
		FIELD("MESSAGE_ID=%s", message_id);
	FIELD("%s", "SYSLOG_IDENTIFIER=igtokend");
#undef FIELD
	if (sd_journal_sendv(iov, (int)n) < 0)
		dprintf(log_fd, "%s: %s\n", level_names[level], msg);
}

static void write_stderr(int level, const char *account, const char *app, const char *state,
			 const char *msg)
{
	char line[LOG_LINE_MAX + 256], ts[32];
	struct timespec now;
	struct tm tm;
	int k;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	k = snprintf(line, sizeof(line), "%s %s%s%s%s%s%s%s: %s\n", ts, level_names[level],
		     account ? " ACCOUNT=" : "", account ?: "", app ? " APP=" : "", app ?: "",
		     state ? " STATE=" : "", state ?: "", msg);
	if (k >= (int)sizeof(line)) {
		k = sizeof(line) - 1;
		line[k - 1] = '\n';
	}
	/* One write(2) per line so concurrent writers never interleave within a line. */
	(void)!write(log_fd, line, (size_t)k);
}

static int log_va(int level, int error, const char *message_id, const char *account,
		  const char *app, const char *state, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int saved = errno;

	if (error < 0)
		error = -error;
	if (level > max_level)
		return -error;
	errno = error; /* for %m */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	string_scrub_controls(msg); /* one event, one line, whatever upstream text it quotes */
	if (to_journal)
		write_journal(level, error, message_id, account, app, state, msg);
	else
		write_stderr(level, account, app, state, msg);
	errno = saved;
	return -error;
}

int log_full(int level, int error, const char *account, const char *app, const char *state,
	     const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = log_va(level, error, NULL, account, app, state, fmt, ap);
	va_end(ap);
	return r;
}

int log_full_id(int level, const char *message_id, const char *account, const char *app,
		const char *state, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = log_va(level, 0, message_id, account, app, state, fmt, ap);
	va_end(ap);
	return r;
}
