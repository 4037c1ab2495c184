/* SPDX-License-Identifier: MIT */
#include "store/vault.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>

#include "basic/util.h"

/* File: magic "IGTV", format version, 24-byte nonce, ciphertext with 16-byte tag. */
#define MAGIC "IGTV"
#define MAGIC_LEN 4
#define FORMAT_VERSION 1
#define HEADER_LEN (MAGIC_LEN + 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
#define KEYCHECK ".keycheck"
#define KEYCHECK_NEW ".keycheck.new"
#define KEYCHECK_TEXT "igtokend vault key check"
#define KEY_FILE_MAX 256

struct vault {
	char *dir;
	int dir_fd;
	struct secret *key;
	struct secret *scratch; /* guarded buffer reused for plaintexts that need no copy */
};

static const char kind_char[] = { [VAULT_TOKEN] = 't', [VAULT_APP] = 'a' };
static const char *const kind_suffix[] = { [VAULT_TOKEN] = ".token", [VAULT_APP] = ".app" };

const char *vault_dir(const struct vault *v)
{
	return v->dir;
}

/* ---- keys ---- */

int vault_keygen(const char *path)
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

/* A key file holds 64 hex characters or 32 raw bytes (one trailing newline allowed). */
static int read_key(const char *path, struct secret **ret)
{
	_cleanup_secret_ struct secret *raw = NULL, *key = NULL;
	struct stat st;
	size_t bin_len;
	int r;

	if (stat(path, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	if (st.st_mode & 077)
		return -EPERM;
	if (st.st_size > KEY_FILE_MAX)
		return -EINVAL;
	r = secret_read_file(AT_FDCWD, path, &raw);
	if (r < 0)
		return r == -EFBIG || r == -ENODATA ? -EINVAL : r;
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

static int file_name(enum vault_kind kind, const char *name, char *buf, size_t len)
{
	int k;
	if (!name_is_valid(name))
		return -EINVAL;
	k = snprintf(buf, len, "%s%s", name, kind_suffix[kind]);
	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

/* Associated data: format, kind and name, so a file copied under another name does not open. */
static size_t make_ad(char kind, const char *name, unsigned char *ad, size_t len)
{
	int k = snprintf((char *)ad, len, "igtokend-vault-v%d%c%c%c%s", FORMAT_VERSION, 0, kind, 0, name);
	return (size_t)MIN(k, (int)len - 1);
}

static int seal(const struct secret *key, char kind, const char *name, const struct secret *plain,
		unsigned char **ret, size_t *ret_len)
{
	unsigned char ad[128];
	size_t adlen = make_ad(kind, name, ad, sizeof(ad));
	size_t len = HEADER_LEN + plain->len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
	unsigned char *out = malloc(len);
	unsigned long long clen;

	if (!out)
		return -ENOMEM;
	memcpy(out, MAGIC, MAGIC_LEN);
	out[MAGIC_LEN] = FORMAT_VERSION;
	randombytes_buf(out + MAGIC_LEN + 1, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + HEADER_LEN, &clen,
						   (const unsigned char *)plain->data, plain->len, ad,
						   adlen, NULL, out + MAGIC_LEN + 1,
						   (const unsigned char *)key->data);
	*ret = out;
	*ret_len = HEADER_LEN + (size_t)clen;
	return 0;
}

/* Decrypts into out (at least n bytes); *ret_len is the plaintext length. */
static int unseal_into(const struct secret *key, char kind, const char *name, const unsigned char *in,
		       size_t n, struct secret *out, size_t *ret_len)
{
	unsigned char ad[128];
	size_t adlen = make_ad(kind, name, ad, sizeof(ad));
	unsigned long long mlen;

	if (n < HEADER_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
	    memcmp(in, MAGIC, MAGIC_LEN) != 0 || in[MAGIC_LEN] != FORMAT_VERSION ||
	    n - HEADER_LEN - crypto_aead_xchacha20poly1305_ietf_ABYTES > out->len)
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out->data, &mlen, NULL,
						       in + HEADER_LEN, n - HEADER_LEN, ad, adlen,
						       in + MAGIC_LEN + 1,
						       (const unsigned char *)key->data) < 0)
		return -EBADMSG;
	*ret_len = (size_t)mlen;
	return 0;
}

static int unseal(const struct secret *key, char kind, const char *name, const unsigned char *in,
		  size_t n, struct secret **ret)
{
	_cleanup_secret_ struct secret *plain = NULL;
	unsigned char ad[128];
	size_t adlen = make_ad(kind, name, ad, sizeof(ad));
	unsigned long long mlen;
	int r;

	if (n < HEADER_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
	    memcmp(in, MAGIC, MAGIC_LEN) != 0 || in[MAGIC_LEN] != FORMAT_VERSION)
		return -EBADMSG;
	r = secret_new(n - HEADER_LEN - crypto_aead_xchacha20poly1305_ietf_ABYTES, &plain);
	if (r < 0)
		return r == -EMSGSIZE ? -EBADMSG : r;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)plain->data, &mlen, NULL,
						       in + HEADER_LEN, n - HEADER_LEN, ad, adlen,
						       in + MAGIC_LEN + 1,
						       (const unsigned char *)key->data) < 0)
		return -EBADMSG;
	plain->len = (size_t)mlen;
	*ret = TAKE_PTR(plain);
	return 0;
}

/* Reads a sealed file: no symlinks, regular, ours, bounded. Anything else is -EBADMSG. */
static int read_sealed(int dir_fd, const char *file, unsigned char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ unsigned char *buf = NULL;
	struct stat st;
	size_t n = 0;

	fd = openat(dir_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : errno == ELOOP ? -EBADMSG : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_size > VAULT_FILE_MAX)
		return -EBADMSG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	if (read_all(fd, buf, (size_t)st.st_size, &n) < 0 || n != (size_t)st.st_size)
		return -EBADMSG; /* changed under us */
	*ret = TAKE_PTR(buf);
	*ret_len = n;
	return 0;
}

static int load_plain(int dir_fd, const struct secret *key, enum vault_kind kind, const char *name,
		      struct secret **ret)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	char file[NAME_MAX_LEN + 16];
	size_t n;
	int r;

	r = file_name(kind, name, file, sizeof(file));
	if (r < 0)
		return r;
	r = read_sealed(dir_fd, file, &sealed, &n);
	if (r < 0)
		return r;
	return unseal(key, kind_char[kind], name, sealed, n, ret);
}

static int store_plain(int dir_fd, const struct secret *key, enum vault_kind kind, const char *name,
		       const struct secret *plain)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	char file[NAME_MAX_LEN + 16];
	size_t n;
	int r;

	r = file_name(kind, name, file, sizeof(file));
	if (r < 0)
		return r;
	r = seal(key, kind_char[kind], name, plain, &sealed, &n);
	if (r < 0)
		return r;
	return write_file_atomic(dir_fd, file, sealed, n, 0600);
}

int vault_load(struct vault *v, const char *name, struct vault_record **ret)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r = load_plain(v->dir_fd, v->key, VAULT_TOKEN, name, &plain);
	if (r < 0)
		return r;
	r = record_decode(plain->data, plain->len, ret);
	return r == -ENOMEM ? r : r < 0 ? -EBADMSG : 0;
}

int vault_load_meta(struct vault *v, const char *name, struct vault_record **ret)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	char file[NAME_MAX_LEN + 16];
	size_t n, len = 0;
	int r;

	r = file_name(VAULT_TOKEN, name, file, sizeof(file));
	if (r < 0)
		return r;
	r = read_sealed(v->dir_fd, file, &sealed, &n);
	if (r < 0)
		return r;
	r = unseal_into(v->key, kind_char[VAULT_TOKEN], name, sealed, n, v->scratch, &len);
	if (r == 0)
		r = record_decode_meta(v->scratch->data, len, ret);
	sodium_memzero(v->scratch->data, len);
	return r == -ENOMEM ? r : r < 0 ? -EBADMSG : 0;
}

int vault_store(struct vault *v, const char *name, const struct vault_record *rec)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r = record_encode(rec, &plain);
	if (r < 0)
		return r;
	return store_plain(v->dir_fd, v->key, VAULT_TOKEN, name, plain);
}

int vault_load_app(struct vault *v, const char *name, struct app_record *ret)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r = load_plain(v->dir_fd, v->key, VAULT_APP, name, &plain);
	if (r < 0)
		return r;
	r = app_record_decode(plain->data, plain->len, ret);
	return r < 0 ? -EBADMSG : 0;
}

int vault_store_app(struct vault *v, const char *name, const struct app_record *rec)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r = app_record_encode(rec, &plain);
	if (r < 0)
		return r;
	return store_plain(v->dir_fd, v->key, VAULT_APP, name, plain);
}

int vault_quarantine(struct vault *v, const char *name, int64_t now, char **ret_name)
{
	char from[NAME_MAX_LEN + 16], to[NAME_MAX_LEN + 64];
	int r = file_name(VAULT_TOKEN, name, from, sizeof(from));

	if (r < 0)
		return r;
	snprintf(to, sizeof(to), "%s.corrupt-%lld", from, (long long)now);
	if (renameat(v->dir_fd, from, v->dir_fd, to) < 0)
		return negative_errno();
	(void)fsync(v->dir_fd);
	if (ret_name)
		*ret_name = strdup(to);
	return 0;
}

/* ---- opening, key check, rotation ---- */

/* Creates dir (mode) and, if needed, its missing parents (0755), touching no
 * existing directory: the service user may not write to /var or /var/lib. */
static int mkdir_missing(const char *dir, mode_t mode)
{
	_cleanup_free_ char *parent = NULL;
	char *slash;
	int r;

	if (mkdir(dir, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return negative_errno();
	parent = strdup(dir);
	if (!parent)
		return -ENOMEM;
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return -ENOENT;
	*slash = '\0';
	r = mkdir_missing(parent, 0755);
	if (r < 0)
		return r;
	if (mkdir(dir, mode) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

static int open_dir(const char *dir, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		r = mkdir_missing(dir, 0700);
		if (r < 0)
			return r;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return errno == ELOOP ? -ENOTDIR : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (st.st_uid != geteuid())
		return -EPERM;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static bool is_record_file(const char *n, enum vault_kind *ret_kind, char *name, size_t len)
{
	for (enum vault_kind k = VAULT_TOKEN; k <= VAULT_APP; k++) {
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

/* Calls fn for each NAME.token / NAME.app; stops at a negative return. */
typedef int (*record_fn)(int dir_fd, enum vault_kind kind, const char *name, void *ud);
static int each_record(int dir_fd, record_fn fn, void *ud)
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
		enum vault_kind kind;
		if (is_record_file(de->d_name, &kind, name, sizeof(name)))
			r = fn(dir_fd, kind, name, ud);
	}
	closedir(d);
	return r;
}

/* Leftover temporary files of interrupted writes. */
static void remove_stale_temporaries(int dir_fd)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(dir_fd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp"))
			(void)unlinkat(dir_fd, de->d_name, 0);
	closedir(d);
}

struct probe {
	const struct secret *key;
	unsigned opened, total;
};

static int probe_record(int dir_fd, enum vault_kind kind, const char *name, void *ud)
{
	_cleanup_secret_ struct secret *plain = NULL;
	struct probe *p = ud;

	p->total++;
	if (load_plain(dir_fd, p->key, kind, name, &plain) >= 0) {
		p->opened++;
		return -ECANCELED; /* one is proof enough */
	}
	return 0;
}

static int seal_keycheck(int dir_fd, const struct secret *key, const char *file)
{
	_cleanup_secret_ struct secret *text = NULL;
	_cleanup_free_ unsigned char *sealed = NULL;
	size_t n;
	int r = secret_from_mem(KEYCHECK_TEXT, strlen(KEYCHECK_TEXT), &text);
	if (r < 0)
		return r;
	r = seal(key, 'k', "keycheck", text, &sealed, &n);
	if (r < 0)
		return r;
	return write_file_atomic(dir_fd, file, sealed, n, 0600);
}

/* Does key open the key check in file? 0 yes, -EKEYREJECTED no, -ENOENT none there. */
static int open_keycheck(int dir_fd, const struct secret *key, const char *file)
{
	_cleanup_secret_ struct secret *plain = NULL;
	_cleanup_free_ unsigned char *sealed = NULL;
	size_t n;
	int r = read_sealed(dir_fd, file, &sealed, &n);

	if (r < 0)
		return r;
	return unseal(key, 'k', "keycheck", sealed, n, &plain) < 0 ? -EKEYREJECTED : 0;
}

static int check_key(int dir_fd, const struct secret *key)
{
	struct probe p = { .key = key };
	int r;

	if (faccessat(dir_fd, KEYCHECK_NEW, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return -EINPROGRESS;
	r = open_keycheck(dir_fd, key, KEYCHECK);
	if (r != -ENOENT)
		return r;
	/* No key check yet: a vault from before it, or a new one. Records must open. */
	(void)each_record(dir_fd, probe_record, &p);
	if (p.total > 0 && p.opened == 0)
		return -EKEYREJECTED;
	return seal_keycheck(dir_fd, key, KEYCHECK);
}

int vault_open(const char *dir, const char *key_path, struct vault **ret)
{
	_cleanup_(vault_closep) struct vault *v = NULL;
	struct stat st;
	int r;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->dir_fd = -1;
	v->dir = strdup(dir);
	if (!v->dir)
		return -ENOMEM;
	r = read_key(key_path, &v->key);
	if (r < 0)
		return r;
	r = secret_new(VAULT_FILE_MAX, &v->scratch);
	if (r < 0)
		return r;
	r = open_dir(dir, &v->dir_fd);
	if (r < 0)
		return r;
	r = check_key(v->dir_fd, v->key);
	if (r < 0)
		return r;
	/* The key is right: now it is safe to tidy up. */
	if (fstat(v->dir_fd, &st) == 0 && (st.st_mode & 077))
		(void)fchmod(v->dir_fd, 0700);
	remove_stale_temporaries(v->dir_fd);
	*ret = TAKE_PTR(v);
	return 0;
}

struct vault *vault_close(struct vault *v)
{
	if (!v)
		return NULL;
	if (v->dir_fd >= 0)
		close(v->dir_fd);
	secret_free(v->key);
	secret_free(v->scratch);
	free(v->dir);
	free(v);
	return NULL;
}

struct rotation {
	const struct secret *old_key, *new_key;
	struct vault_rotate_stats stats;
};

static int rotate_record(int dir_fd, enum vault_kind kind, const char *name, void *ud)
{
	_cleanup_secret_ struct secret *plain = NULL;
	struct rotation *rot = ud;

	if (load_plain(dir_fd, rot->old_key, kind, name, &plain) >= 0) {
		if (store_plain(dir_fd, rot->new_key, kind, name, plain) < 0)
			rot->stats.failed++;
		else
			rot->stats.resealed++;
	} else if (load_plain(dir_fd, rot->new_key, kind, name, &plain) >= 0)
		rot->stats.already++; /* done by an interrupted earlier run */
	else
		rot->stats.unreadable++; /* corrupt under both: the daemon quarantines it */
	return 0;
}

int vault_rotate(const char *dir, const char *key_path, const char *new_key_path,
		 struct vault_rotate_stats *ret)
{
	_cleanup_secret_ struct secret *old_key = NULL, *new_key = NULL;
	_cleanup_close_ int dir_fd = -1;
	struct rotation rot = { 0 };
	int r;

	r = read_key(key_path, &old_key);
	if (r < 0)
		return r;
	r = read_key(new_key_path, &new_key);
	if (r < 0)
		return r;
	r = open_dir(dir, &dir_fd);
	if (r < 0)
		return r;
	r = check_key(dir_fd, old_key);
	if (r == -EKEYREJECTED && check_key(dir_fd, new_key) == 0) {
		*ret = rot.stats; /* finished before: nothing to do */
		return 0;
	}
	if (r == -EINPROGRESS) /* an interrupted run: the old key must still be the vault's */
		r = open_keycheck(dir_fd, old_key, KEYCHECK);
	if (r < 0 && r != -ENOENT)
		return r;
	/* Marks the rotation as under way: the daemon refuses to start until it completes. */
	r = seal_keycheck(dir_fd, new_key, KEYCHECK_NEW);
	if (r < 0)
		return r;
	rot.old_key = old_key;
	rot.new_key = new_key;
	r = each_record(dir_fd, rotate_record, &rot);
	if (r < 0)
		return r;
	*ret = rot.stats;
	if (rot.stats.failed > 0)
		return -EBADMSG; /* leave the marker: re-run once the cause is fixed */
	if (renameat(dir_fd, KEYCHECK_NEW, dir_fd, KEYCHECK) < 0)
		return negative_errno();
	if (fsync(dir_fd) < 0)
		return negative_errno();
	return 0;
}
