/* SPDX-License-Identifier: MIT */
#include "basic/secret.h"
#include "basic/util.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>

int secret_new(size_t len, struct secret **ret)
{
	struct secret *s;

	if (len > SECRET_ALLOC_MAX)
		return -EMSGSIZE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->data = sodium_malloc(len + 1);
	if (!s->data) {
		free(s);
		return -ENOMEM;
	}
	s->len = len;
	sodium_memzero(s->data, len + 1);
	*ret = s;
	return 0;
}

int secret_from_mem(const void *p, size_t len, struct secret **ret)
{
	struct secret *s;
	int r = secret_new(len, &s);
	if (r < 0)
		return r;
	memcpy(s->data, p, len);
	*ret = s;
	return 0;
}

struct secret *secret_free(struct secret *s)
{
	if (!s)
		return NULL;
	sodium_free(s->data); /* wipes */
	free(s);
	return NULL;
}

int secret_read_file(int dirfd, const char *path, struct secret **ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_secret_ struct secret *buf = NULL;
	struct stat st;
	size_t n = 0;
	int r;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD;
	if (st.st_size > SECRET_MAX)
		return -EFBIG;
	r = secret_new(SECRET_MAX, &buf);
	if (r < 0)
		return r;
	r = read_all(fd, buf->data, SECRET_MAX, &n);
	if (r < 0)
		return r;
	if (n > 0 && buf->data[n - 1] == '\n') {
		n--;
		if (n > 0 && buf->data[n - 1] == '\r')
			n--;
	}
	if (n == 0)
		return -ENODATA;
	return secret_from_mem(buf->data, n, ret);
}

void secret_fingerprint(const struct secret *s, char out[SECRET_FP_LEN])
{
	/* A fixed personalization: the fingerprint only has to be stable within a
	 * host's logs and must not help anyone recover the token; 32 bits of a
	 * BLAKE2b hash of a high-entropy token reveal nothing usable. */
	static const unsigned char key[crypto_generichash_KEYBYTES] = "igtokend token fingerprint v1";
	unsigned char h[4];

	if (!s || s->len == 0) {
		memcpy(out, "--------", SECRET_FP_LEN);
		return;
	}
	crypto_generichash(h, sizeof(h), (const unsigned char *)s->data, s->len, key, sizeof(key));
	sodium_bin2hex(out, SECRET_FP_LEN, h, sizeof(h));
}

bool secret_equal(const struct secret *a, const struct secret *b)
{
	if (!a || !b)
		return a == b;
	if (a->len != b->len)
		return false;
	return sodium_memcmp(a->data, b->data, a->len) == 0;
}
