/* SPDX-License-Identifier: MIT */
#include "basic/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <time.h>

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	char *end;
	long long v;

	if (!s || !*s || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end || end == s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* "90", "90s", "15m", "24h", "15d", and sums such as "1d12h". */
int parse_duration(const char *s, int64_t *ret_sec)
{
	int64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		int64_t v = 0, mult;
		const char *start = p;

		while (*p >= '0' && *p <= '9') {
			if (v > DURATION_MAX_SEC)
				return -ERANGE;
			v = v * 10 + (*p - '0');
			p++;
		}
		if (p == start)
			return -EINVAL;
		switch (*p) {
		case 's':
			mult = 1;
			p++;
			break;
		case 'm':
			mult = 60;
			p++;
			break;
		case 'h':
			mult = 3600;
			p++;
			break;
		case 'd':
			mult = 86400;
			p++;
			break;
		case '\0':
			if (start != s) /* a bare number only on its own */
				return -EINVAL;
			mult = 1;
			break;
		default: return -EINVAL;
		}
		if (v > DURATION_MAX_SEC / mult)
			return -ERANGE;
		total += v * mult;
		if (total > DURATION_MAX_SEC)
			return -ERANGE;
	}
	*ret_sec = total;
	return 0;
}

/* A usage percentage as Meta sends it: a JSON number or a numeric string such as "62.5". */
int parse_percent(const char *s, double *ret)
{
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || *end || end == s)
		return -EINVAL;
	if (!isfinite(v) || v < 0 || v > 100000)
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_mode(const char *s, mode_t *ret)
{
	unsigned long v;
	char *end;

	if (!s || !*s || strlen(s) > 4)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '7')
			return -EINVAL;
	v = strtoul(s, &end, 8);
	if (*end || v > 07777)
		return -EINVAL;
	*ret = (mode_t)v;
	return 0;
}

int parse_host_port(const char *s, char **ret_host, uint16_t *ret_port)
{
	const char *colon, *host = s, *host_end;
	int64_t port;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		host = s + 1;
		host_end = strchr(host, ']');
		if (!host_end || host_end[1] != ':')
			return -EINVAL;
		colon = host_end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* a bare IPv6 address needs brackets */
		host_end = colon;
	}
	if (host_end == host || parse_int64(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	for (const char *p = host; p < host_end; p++)
		if (!(isalnum((unsigned char)*p) || strchr(".-:%_", *p)))
			return -EINVAL;
	*ret_host = strndup(host, (size_t)(host_end - host));
	if (!*ret_host)
		return -ENOMEM;
	*ret_port = (uint16_t)port;
	return 0;
}

uid_t euid_cached(void)
{
	static uid_t euid = (uid_t)-1;

	if (euid == (uid_t)-1)
		euid = geteuid();
	return euid;
}

size_t format_int64(char buf[static 24], int64_t v)
{
	char tmp[24];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	size_t n = 0, k = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[k++] = '-';
	while (n)
		buf[k++] = tmp[--n];
	buf[k] = '\0';
	return k;
}

bool name_is_valid(const char *s)
{
	size_t n = 0;

	if (!s || s[0] == '.' || s[0] == '\0')
		return false;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
		if (n >= NAME_MAX_LEN)
			return false;
	}
	return true;
}

bool token_is_valid(const char *t, size_t n)
{
	if (!t || n == 0 || n > 8192)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return false;
	return true;
}

void format_duration(int64_t sec, char *buf, size_t len)
{
	static const struct {
		int64_t size;
		char unit;
	} units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' } };
	size_t used = 0;
	int parts = 0;

	if (sec < 0)
		sec = -sec;
	buf[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(units) && parts < 2; i++) {
		int64_t v = sec / units[i].size;
		if (v == 0 && (parts == 0 || units[i].size == 1))
			continue;
		if (v == 0) {
			parts++; /* "3d 0h" reads badly: stop after the leading unit */
			continue;
		}
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%" PRId64 "%c",
					 parts ? " " : "", v, units[i].unit);
		sec -= v * units[i].size;
		parts++;
	}
	if (parts == 0)
		snprintf(buf, len, "0s");
}

void format_relative(int64_t when, int64_t now, char *buf, size_t len)
{
	char d[32];

	if (when == now) {
		snprintf(buf, len, "now");
		return;
	}
	format_duration(when - now, d, sizeof(d));
	if (when > now)
		snprintf(buf, len, "in %s", d);
	else
		snprintf(buf, len, "%s ago", d);
}

int strjoin3(char **ret, const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;

	*ret = malloc(n);
	if (!*ret)
		return -ENOMEM;
	snprintf(*ret, n, "%s%s%s", a, b, c);
	return 0;
}

char **strv_free(char **l)
{
	if (!l)
		return NULL;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
	return NULL;
}

/* NULL and an empty list are equal. */
bool strv_equal(char *const *x, char *const *y)
{
	size_t i = 0;

	for (; x && y && x[i] && y[i]; i++)
		if (!streq(x[i], y[i]))
			return false;
	return (!x || !x[i]) && (!y || !y[i]);
}

size_t strv_length(char *const *l)
{
	size_t n = 0;
	while (l && l[n])
		n++;
	return n;
}

int strv_push(char ***l, char *s)
{
	size_t n = strv_length(*l);
	char **nl = reallocarray(*l, n + 2, sizeof(char *));
	if (!nl)
		return -ENOMEM;
	nl[n] = s;
	nl[n + 1] = NULL;
	*l = nl;
	return 0;
}

char **strv_copy(char *const *l)
{
	size_t n = strv_length(l);
	char **c = calloc(n + 1, sizeof(char *));
	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(c[i] = strdup(l[i])))
			return strv_free(c);
	return c;
}

int64_t now_realtime_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t now_realtime_sec_ceil(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec + (ts.tv_nsec > 0);
}

uint64_t now_boottime_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t now_monotonic_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

char *path_relative_to(const char *base, const char *path)
{
	const char *slash;
	char *r;

	if (path[0] == '/' || !(slash = strrchr(base, '/')))
		return strdup(path);
	if (asprintf(&r, "%.*s/%s", (int)(slash - base), base, path) < 0)
		return NULL;
	return r;
}

char *string_scrub_controls(char *s)
{
	for (char *p = s; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

void free_wiped(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}
