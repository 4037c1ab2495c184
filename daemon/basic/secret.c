/* SPDX-License-Identifier: MIT */
#include "basic/secret.h"
#include "basic/fileio.h"
#include "basic/util.h"

#include <sodium.h>

/* Guarded allocations cost about ten system calls each (mmap, guard pages,
 * mlock, and back again), and a refresh makes several. Small secrets reuse
 * blocks of one page instead: a block is wiped when its secret is freed and
 * kept, still guarded and locked, for the next one. A secret ends where its
 * block does, right before the guard page, as sodium_malloc() places it.
 *
 * The pool keeps as many blocks as were ever free at once, up to POOL_MAX:
 * refreshes waiting for their write to land hold two or three secrets each, and
 * a group of writes landing frees them all together. With 32 kept, every burst
 * of refreshes gave most of them back to the kernel and mapped them again for
 * the next (mprotect and munmap, each a TLB shootdown on every CPU the process
 * runs on): 40 % of the event loop's time at a thousand refreshes a second.
 * 256 blocks are 1 MiB of locked memory at most. */
#define POOL_BLOCK SECRET_POOL_BLOCK /* with sodium's 16-byte canary: one page */
#define POOL_MAX   256

static _Thread_local char *pool[POOL_MAX];
static _Thread_local unsigned n_pool;

static char *block_get(void)
{
	return n_pool > 0 ? pool[--n_pool] : sodium_malloc(POOL_BLOCK);
}

static void block_put(char *block)
{
	sodium_memzero(block, POOL_BLOCK);
	if (n_pool < POOL_MAX)
		pool[n_pool++] = block;
	else
		sodium_free(block);
}

int secret_new(size_t len, struct secret **ret)
{
	struct secret *s;

	if (len > SECRET_ALLOC_MAX)
		return -EMSGSIZE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (len + 1 <= POOL_BLOCK) {
		s->block = block_get();
		s->data = s->block ? s->block + POOL_BLOCK - (len + 1) : NULL;
	} else
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
	if (s->block)
		block_put(s->block); /* wipes */
	else
		sodium_free(s->data); /* wipes */
	free(s);
	return NULL;
}

int secret_read_file(int dirfd, const char *path, unsigned flags, struct secret **ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_secret_ struct secret *buf = NULL;
	size_t size, n = 0;
	int r;

	r = open_regular(dirfd, path, flags, SECRET_MAX, &fd, &size);
	if (r < 0)
		return r;
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
	static const unsigned char key[crypto_generichash_KEYBYTES] =
		"igtokend token fingerprint v1";
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
