/* SPDX-License-Identifier: MIT */
#include "basic/util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "basic/testseam.h"

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
		case 's': mult = 1; p++; break;
		case 'm': mult = 60; p++; break;
		case 'h': mult = 3600; p++; break;
		case 'd': mult = 86400; p++; break;
		case '\0':
			if (start != s) /* a bare number only on its own */
				return -EINVAL;
			mult = 1;
			break;
		default:
			return -EINVAL;
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

char **strv_free(char **l)
{
	if (!l)
		return NULL;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
	return NULL;
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

int read_all(int fd, void *buf, size_t size, size_t *ret_n)
{
	size_t n = 0;
	char extra;

	for (;;) {
		ssize_t k = n < size ? read(fd, (char *)buf + n, size - n) : read(fd, &extra, 1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		if (n == size)
			return -EFBIG;
		n += (size_t)k;
	}
	*ret_n = n;
	return 0;
}

int read_file_bounded(int dirfd, const char *path, size_t max, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;
	int r;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	r = read_all(fd, buf, (size_t)st.st_size, &n);
	if (r < 0)
		return r; /* -EFBIG: it grew while we read it */
	buf[n] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_size)
		*ret_size = n;
	return 0;
}

static int write_all(int fd, const void *data, size_t size)
{
	const char *p = data;

	while (size > 0) {
		ssize_t k = testseam_write(fd, p, size);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += k;
		size -= (size_t)k;
	}
	return 0;
}

int write_file_atomic_iov(int dirfd, const char *name, const struct iovec *iov, size_t n_iov,
			  mode_t mode, uid_t uid, gid_t gid)
{
	char tmp[NAME_MAX + 1];
	int fd, r;

	r = snprintf(tmp, sizeof(tmp), ".%s.tmp%08x", name, randombytes_random());
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return -ENAMETOOLONG;
	/* 0600 until owner and mode are right: nobody else sees the data early */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	r = 0;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
		r = negative_errno();
	if (r == 0 && fchmod(fd, mode) < 0)
		r = negative_errno();
	for (size_t i = 0; r == 0 && i < n_iov; i++)
		r = write_all(fd, iov[i].iov_base, iov[i].iov_len);
	if (r == 0 && testseam_fsync(fd) < 0)
		r = negative_errno();
	if (close(fd) < 0 && r == 0)
		r = negative_errno();
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (testseam_fsync(dirfd) < 0)
		return negative_errno();
	return 0;
}

int write_file_atomic(int dirfd, const char *name, const void *data, size_t size, mode_t mode)
{
	struct iovec iov = { (void *)(uintptr_t)data, size };
	return write_file_atomic_iov(dirfd, name, &iov, 1, mode, (uid_t)-1, (gid_t)-1);
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

void free_wiped(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}
