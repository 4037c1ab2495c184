/* SPDX-License-Identifier: MIT */
#include "store/seal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>

#include "basic/durable.h"
#include "basic/fileio.h"
#include "basic/util.h"

/* File: magic "IGTV", format version, 24-byte nonce, ciphertext with 16-byte tag. */
#define MAGIC	       "IGTV"
#define MAGIC_LEN      4
#define FORMAT_VERSION 1
#define HEADER_LEN     (MAGIC_LEN + 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
#define OVERHEAD       (HEADER_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define KEYCHECK_TEXT  "igtokend vault key check"
#define KEY_FILE_MAX   256

static const char kind_char[_SEAL_KIND_MAX] = {
	[SEAL_TOKEN] = 't', [SEAL_APP] = 'a', [SEAL_KEYCHECK] = 'k'
};
static const char *const kind_suffix[] = { [SEAL_TOKEN] = ".token", [SEAL_APP] = ".app" };

/* ---- keys ---- */

int seal_keygen(const char *path)
{
	unsigned char key[VAULT_KEY_BYTES];
	char hex[2 * VAULT_KEY_BYTES + 2];
	_cleanup_close_ int fd = -1;
	ssize_t k;
	int r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	hex[2 * VAULT_KEY_BYTES] = '\n';
	if (fchmod(fd, 0600) < 0)
		r = negative_errno();
	else if ((k = write(fd, hex, 2 * VAULT_KEY_BYTES + 1)) != 2 * VAULT_KEY_BYTES + 1)
		r = k < 0 ? negative_errno() : -EIO;
	else if (fsync(fd) < 0)
		r = negative_errno();
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	if (r < 0)
		(void)unlink(path);
	return r;
}

int seal_read_key(const char *path, struct secret **ret)
{
	_cleanup_secret_ struct secret *raw = NULL, *key = NULL;
	size_t bin_len;
	int r;

	/* opened once; owner and mode checked on the descriptor it is read from */
	r = secret_read_file(AT_FDCWD, path, FILE_PRIVATE, &raw);
	if (r < 0)
		return r == -ELOOP ? -EPERM : r == -EFBIG || r == -ENODATA ? -EINVAL : r;
	if (raw->len > KEY_FILE_MAX)
		return -EINVAL;
	r = secret_new(VAULT_KEY_BYTES, &key);
	if (r < 0)
		return r;
	if (raw->len == 2 * VAULT_KEY_BYTES) {
		if (sodium_hex2bin((unsigned char *)key->data, VAULT_KEY_BYTES, raw->data, raw->len,
				   NULL, &bin_len, NULL) < 0 ||
		    bin_len != VAULT_KEY_BYTES)
			return -EINVAL;
	} else if (raw->len == VAULT_KEY_BYTES)
		memcpy(key->data, raw->data, VAULT_KEY_BYTES);
	else
		return -EINVAL;
	*ret = TAKE_PTR(key);
	return 0;
}

/* ---- sealing ---- */

/* Associated data: format, kind and name, so a file copied under another name does not open. */
static size_t make_ad(enum seal_kind kind, const char *name, unsigned char *ad, size_t len)
{
	int k = snprintf((char *)ad, len, "igtokend-vault-v%d%c%c%c%s", FORMAT_VERSION, 0,
			 kind_char[kind], 0, name);
	return (size_t)MIN(k, (int)len - 1);
}

int seal_bytes(const struct secret *key, enum seal_kind kind, const char *name,
	       const struct secret *plain, unsigned char **ret, size_t *ret_len)
{
	unsigned char ad[128];
	size_t adlen = make_ad(kind, name, ad, sizeof(ad));
	unsigned char *out = malloc(OVERHEAD + plain->len);
	unsigned long long clen;

	if (!out)
		return -ENOMEM;
	memcpy(out, MAGIC, MAGIC_LEN);
	out[MAGIC_LEN] = FORMAT_VERSION;
	randombytes_buf(out + MAGIC_LEN + 1, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + HEADER_LEN, &clen,
						   (const unsigned char *)plain->data, plain->len,
						   ad, adlen, NULL, out + MAGIC_LEN + 1,
						   (const unsigned char *)key->data);
	*ret = out;
	*ret_len = HEADER_LEN + (size_t)clen;
	return 0;
}

int seal_open_into(const struct secret *key, enum seal_kind kind, const char *name,
		   const unsigned char *in, size_t n, struct secret *out, size_t *ret_len)
{
	unsigned char ad[128];
	size_t adlen = make_ad(kind, name, ad, sizeof(ad));
	unsigned long long mlen;

	if (n < OVERHEAD || memcmp(in, MAGIC, MAGIC_LEN) != 0 || in[MAGIC_LEN] != FORMAT_VERSION ||
	    n - OVERHEAD > out->len)
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out->data, &mlen, NULL,
						       in + HEADER_LEN, n - HEADER_LEN, ad, adlen,
						       in + MAGIC_LEN + 1,
						       (const unsigned char *)key->data) < 0)
		return -EBADMSG;
	*ret_len = (size_t)mlen;
	return 0;
}

int seal_open(const struct secret *key, enum seal_kind kind, const char *name,
	      const unsigned char *in, size_t n, struct secret **ret)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r;

	if (n < OVERHEAD)
		return -EBADMSG;
	r = secret_new(n - OVERHEAD, &plain);
	if (r < 0)
		return r == -EMSGSIZE ? -EBADMSG : r;
	r = seal_open_into(key, kind, name, in, n, plain, &plain->len);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(plain);
	return 0;
}

/* ---- files ---- */

int seal_file_name(enum seal_kind kind, const char *name, char *buf, size_t len)
{
	int k;

	if (!name_is_valid(name) || kind >= SEAL_KEYCHECK)
		return -EINVAL;
	k = snprintf(buf, len, "%s%s", name, kind_suffix[kind]);
	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

/* Whether FILE is still the file read through fd (st: its fstat). */
static bool still_there(int dir_fd, const char *file, const struct stat *st)
{
	struct stat now;

	return fstatat(dir_fd, file, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st->st_ino &&
	       now.st_dev == st->st_dev;
}

/* One read of the file. -EAGAIN (checked only): it was replaced, or changed,
 * while being read. The vault's writer thread exchanges a new file in, then
 * empties the old one (now its spare) and later writes the next record into
 * it: a reader that opened the old one may find it empty or half written, and
 * maybe back at its name by the time it looks. */
static int read_once(int dir_fd, const char *file, bool checked, unsigned char **ret,
		     size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ unsigned char *buf = NULL;
	struct stat st;
	ssize_t k;
	bool whole;

	fd = openat(dir_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : errno == ELOOP ? -EBADMSG : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || st.st_uid != euid_cached() || st.st_size > SEAL_FILE_MAX)
		return -EBADMSG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	/* one read of a byte more than the file holds: all of it, and proof that it
	 * did not grow (a record is read once per start, 100 000 of them) */
	do
		k = read(fd, buf, (size_t)st.st_size + 1);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return negative_errno(); /* an I/O error is not a corrupt record */
	whole = k == (ssize_t)st.st_size && k > 0;
	if (checked && (!whole || !still_there(dir_fd, file, &st)))
		return -EAGAIN;
	if (!whole)
		return -EBADMSG; /* changed under us, in place: not by us */
	*ret = TAKE_PTR(buf);
	*ret_len = (size_t)k;
	return 0;
}

#define READ_ATTEMPTS 16

int seal_read_file(int dir_fd, const char *file, bool checked, unsigned char **ret, size_t *ret_len)
{
	int r = -EAGAIN;

	for (unsigned i = 0; i < READ_ATTEMPTS && r == -EAGAIN; i++)
		r = read_once(dir_fd, file, checked, ret, ret_len);
	/* never at rest: as an unchecked read would find it (an empty file is corrupt) */
	return r == -EAGAIN ? read_once(dir_fd, file, false, ret, ret_len) : r;
}

int seal_load(int dir_fd, const struct secret *key, enum seal_kind kind, const char *name,
	      struct secret **ret)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	char file[NAME_MAX_LEN + 16];
	size_t n;
	int r;

	r = seal_file_name(kind, name, file, sizeof(file));
	if (r < 0)
		return r;
	r = seal_read_file(dir_fd, file, false, &sealed, &n);
	if (r < 0)
		return r;
	return seal_open(key, kind, name, sealed, n, ret);
}

int seal_store(int dir_fd, const struct secret *key, enum seal_kind kind, const char *name,
	       const struct secret *plain)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	char file[NAME_MAX_LEN + 16];
	size_t n;
	int r;

	r = seal_file_name(kind, name, file, sizeof(file));
	if (r < 0)
		return r;
	r = seal_bytes(key, kind, name, plain, &sealed, &n);
	if (r < 0)
		return r;
	return durable_replace(dir_fd, file, sealed, n, 0600);
}

static bool parse_file_name(const char *n, enum seal_kind *ret_kind, char *name, size_t len)
{
	for (enum seal_kind k = SEAL_TOKEN; k <= SEAL_APP; k++) {
		size_t nl = strlen(n), sl = strlen(kind_suffix[k]);
		if (nl > sl && nl - sl < len && streq(n + nl - sl, kind_suffix[k])) {
			memcpy(name, n, nl - sl);
			name[nl - sl] = '\0';
			if (!name_is_valid(name))
				return false;
			*ret_kind = k;
			return true;
		}
	}
	return false;
}

int seal_each_record(int dir_fd,
		     int (*fn)(int dir_fd, enum seal_kind kind, const char *name, void *ud),
		     void *ud)
{
	DIR *d;
	struct dirent *de;
	int r = 0, fd = dup(dir_fd);

	if (fd < 0)
		return negative_errno();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return negative_errno();
	}
	rewinddir(d);
	while (r >= 0 && (de = readdir(d))) {
		char name[NAME_MAX_LEN + 1];
		enum seal_kind kind;
		if (parse_file_name(de->d_name, &kind, name, sizeof(name)))
			r = fn(dir_fd, kind, name, ud);
	}
	closedir(d);
	return r;
}

/* ---- the key check ---- */

int seal_keycheck_bytes(const struct secret *key, const char *name, unsigned char **ret,
			size_t *ret_len)
{
	_cleanup_secret_ struct secret *text = NULL;
	int r = secret_from_mem(KEYCHECK_TEXT, strlen(KEYCHECK_TEXT), &text);

	if (r < 0)
		return r;
	return seal_bytes(key, SEAL_KEYCHECK, name, text, ret, ret_len);
}

int seal_keycheck_open_bytes(const struct secret *key, const char *name, const unsigned char *in,
			     size_t n)
{
	_cleanup_secret_ struct secret *plain = NULL;

	return seal_open(key, SEAL_KEYCHECK, name, in, n, &plain) < 0 ? -EKEYREJECTED : 0;
}

int seal_keycheck_write(int dir_fd, const struct secret *key, const char *file)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	size_t n;
	int r = seal_keycheck_bytes(key, "keycheck", &sealed, &n);

	if (r < 0)
		return r;
	return write_file_atomic(dir_fd, file, sealed, n, 0600);
}

int seal_keycheck_open(int dir_fd, const struct secret *key, const char *file)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	size_t n;
	int r = seal_read_file(dir_fd, file, false, &sealed, &n);

	if (r < 0)
		return r;
	return seal_keycheck_open_bytes(key, "keycheck", sealed, n);
}

struct probe {
	const struct secret *key;
	unsigned opened, total;
};

static int probe_record(int dir_fd, enum seal_kind kind, const char *name, void *ud)
{
	_cleanup_secret_ struct secret *plain = NULL;
	struct probe *p = ud;

	p->total++;
	if (seal_load(dir_fd, p->key, kind, name, &plain) >= 0) {
		p->opened++;
		return -ECANCELED; /* one is proof enough */
	}
	return 0;
}

int seal_check_key(int dir_fd, const struct secret *key)
{
	struct probe p = { .key = key };
	int r;

	if (faccessat(dir_fd, SEAL_KEYCHECK_NEW_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return -EINPROGRESS;
	r = seal_keycheck_open(dir_fd, key, SEAL_KEYCHECK_FILE);
	if (r != -ENOENT)
		return r;
	/* No key check yet: a vault from before it, or a new one. Records must open. */
	(void)seal_each_record(dir_fd, probe_record, &p);
	if (p.total > 0 && p.opened == 0)
		return -EKEYREJECTED;
	return seal_keycheck_write(dir_fd, key, SEAL_KEYCHECK_FILE);
}
