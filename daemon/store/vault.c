/* SPDX-License-Identifier: MIT */
#include "store/vault.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "basic/durable.h"
#include "basic/util.h"
#include "store/seal.h"

#define LOCK_FILE      ".lock"
#define QUARANTINE_MAX 1000 /* quarantined copies of one record within one second */

struct vault {
	char *dir;
	int dir_fd;
	struct secret *key;
	struct secret *scratch;	       /* guarded buffer reused for plaintexts that need no copy */
	struct durable_writer *writer; /* vault_store_async() */
};

const char *vault_dir(const struct vault *v)
{
	return v->dir;
}

/* A token record as it is on disk. The writer thread may be replacing it
 * meanwhile unless it is idle; it stays idle through the read, since writes are
 * submitted from this thread (the event loop's). */
static int read_token_file(struct vault *v, const char *name, unsigned char **ret, size_t *ret_len)
{
	char file[NAME_MAX_LEN + 16];
	int r = seal_file_name(SEAL_TOKEN, name, file, sizeof(file));

	if (r < 0)
		return r;
	return seal_read_file(v->dir_fd, file, !durable_writer_idle(v->writer), ret, ret_len);
}

int vault_load(struct vault *v, const char *name, struct vault_record **ret)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	size_t n;
	int r = read_token_file(v, name, &sealed, &n);

	if (r < 0)
		return r;
	return vault_open_sealed(v, name, sealed, n, ret);
}

const struct secret *vault_key(const struct vault *v)
{
	return v->key;
}

int vault_read_sealed(struct vault *v, const char *name, unsigned char **ret, size_t *ret_len)
{
	return read_token_file(v, name, ret, ret_len);
}

int vault_open_sealed(struct vault *v, const char *name, const unsigned char *in, size_t n,
		      struct vault_record **ret)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r = seal_open(v->key, SEAL_TOKEN, name, in, n, &plain);

	if (r < 0)
		return r;
	r = record_decode(plain->data, plain->len, ret);
	return r == -ENOMEM ? r : r < 0 ? -EBADMSG : 0;
}

int vault_load_meta(struct vault *v, const char *name, struct vault_record **ret)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	size_t n, len = 0;
	int r = read_token_file(v, name, &sealed, &n);

	if (r < 0)
		return r;
	r = seal_open_into(v->key, SEAL_TOKEN, name, sealed, n, v->scratch, &len);
	if (r == 0)
		r = record_decode_meta(v->scratch->data, len, ret);
	sodium_memzero(v->scratch->data, len);
	return r == -ENOMEM ? r : r < 0 ? -EBADMSG : 0;
}

/* A plain write of file comes after the writer thread's writes of it. */
static int store_now(struct vault *v, enum seal_kind kind, const char *name,
		     const struct secret *plain)
{
	char file[NAME_MAX_LEN + 16];
	int r = seal_file_name(kind, name, file, sizeof(file));

	if (r < 0)
		return r;
	durable_writer_wait_name(v->writer, v->dir_fd, file);
	return seal_store(v->dir_fd, v->key, kind, name, plain);
}

int vault_store(struct vault *v, const char *name, const struct vault_record *rec)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r = record_encode(rec, &plain);
	if (r < 0)
		return r;
	return store_now(v, SEAL_TOKEN, name, plain);
}

int vault_store_async(struct vault *v, const char *name, const struct secret *plain,
		      vault_done_t done, void *userdata)
{
	char file[NAME_MAX_LEN + 16];
	unsigned char *sealed = NULL;
	size_t n;
	int r = seal_file_name(SEAL_TOKEN, name, file, sizeof(file));

	if (r < 0)
		return r;
	r = seal_bytes(v->key, SEAL_TOKEN, name, plain, &sealed, &n);
	if (r < 0)
		return r;
	return durable_writer_submit(v->writer, v->dir_fd, file, sealed, n, 0600, done, userdata);
}

int vault_writer_fd(const struct vault *v)
{
	return durable_writer_fd(v->writer);
}

void vault_dispatch(struct vault *v)
{
	durable_writer_dispatch(v->writer);
}

void vault_flush(struct vault *v)
{
	durable_writer_flush(v->writer);
}

int vault_load_app(struct vault *v, const char *name, struct app_record *ret)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r = seal_load(v->dir_fd, v->key, SEAL_APP, name, &plain);
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
	return store_now(v, SEAL_APP, name, plain);
}

int vault_seal_app(struct vault *v, const char *name, const struct app_record *rec,
		   unsigned char **ret, size_t *ret_len)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r = app_record_encode(rec, &plain);

	return r < 0 ? r : seal_bytes(v->key, SEAL_APP, name, plain, ret, ret_len);
}

int vault_open_app_sealed(struct vault *v, const char *name, const unsigned char *in, size_t n,
			  struct app_record *ret)
{
	_cleanup_secret_ struct secret *plain = NULL;
	int r = seal_open(v->key, SEAL_APP, name, in, n, &plain);

	if (r < 0)
		return r;
	return app_record_decode(plain->data, plain->len, ret) < 0 ? -EBADMSG : 0;
}

int vault_quarantine(struct vault *v, const char *name, int64_t now, char **ret_name)
{
	char from[NAME_MAX_LEN + 16], to[NAME_MAX_LEN + 64];
	int r = seal_file_name(SEAL_TOKEN, name, from, sizeof(from));

	if (r < 0)
		return r;
	/* NAME.token.corrupt-UNIXTIME, then -1, -2 ...: an earlier one is never replaced */
	for (unsigned n = 0;; n++) {
		if (n == 0)
			snprintf(to, sizeof(to), "%s.corrupt-%lld", from, (long long)now);
		else
			snprintf(to, sizeof(to), "%s.corrupt-%lld-%u", from, (long long)now, n);
		if (renameat2(v->dir_fd, from, v->dir_fd, to, RENAME_NOREPLACE) == 0)
			break;
		if (errno != EEXIST || n >= QUARANTINE_MAX)
			return negative_errno();
	}
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
	if (st.st_uid != euid_cached())
		return -EPERM;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Leftover temporary files of interrupted writes. An empty spare (".NAME.tmp",
 * basic/durable.h) stays for the next write: making it again costs an inode. */
static bool empty_spare(int dir_fd, const char *name)
{
	size_t n = strlen(name);
	struct stat st;

	return n > 4 && streq(name + n - 4, ".tmp") &&
	       fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       st.st_size == 0;
}

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
		if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp") &&
		    !empty_spare(dir_fd, de->d_name))
			(void)unlinkat(dir_fd, de->d_name, 0);
	closedir(d);
}

/* The vault's lock: flock on its directory, so that taking it creates or changes
 * nothing (a wrong key or a second daemon must touch nothing). -EBUSY if another
 * process holds it. It goes with the directory's descriptor. */
static int take_lock(int dir_fd)
{
	if (flock(dir_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : negative_errno();
	return 0;
}

/* Once the key is proven: VAULT/.lock says who holds the lock, for the error
 * message of whoever is refused. Failing to say so is no failure. */
static void say_holder(int dir_fd, const char *who)
{
	_cleanup_close_ int fd = -1;
	char text[128];
	int n = snprintf(text, sizeof(text), "%s (pid %ld)\n", who, (long)getpid());

	fd = openat(dir_fd, LOCK_FILE, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		    0600);
	if (fd >= 0 && ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)n, 0) != n)
		(void)!ftruncate(fd, 0);
}

int vault_lock_holder(const char *dir, char *buf, size_t len)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	ssize_t k;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	fd = openat(dfd, LOCK_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	k = read(fd, buf, len - 1);
	if (k <= 0)
		return k < 0 ? negative_errno() : -ENODATA;
	buf[k] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	string_scrub_controls(buf);
	return 0;
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
	r = seal_read_key(key_path, &v->key);
	if (r < 0)
		return r;
	r = secret_new(SEAL_FILE_MAX, &v->scratch);
	if (r < 0)
		return r;
	r = durable_writer_new(&v->writer);
	if (r < 0)
		return r;
	r = open_dir(dir, &v->dir_fd);
	if (r < 0)
		return r;
	r = take_lock(v->dir_fd); /* one daemon or one key rotation at a time */
	if (r < 0)
		return r;
	r = seal_check_key(v->dir_fd, v->key);
	if (r < 0)
		return r;
	/* The key is right: now it is safe to tidy up. */
	say_holder(v->dir_fd, "igtokend");
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
	/* the writes queued reach the disk before the directory goes */
	v->writer = durable_writer_free(v->writer);
	if (v->dir_fd >= 0)
		close(v->dir_fd); /* and with it the lock */
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

static int rotate_record(int dir_fd, enum seal_kind kind, const char *name, void *ud)
{
	_cleanup_secret_ struct secret *plain = NULL;
	struct rotation *rot = ud;

	if (seal_load(dir_fd, rot->old_key, kind, name, &plain) >= 0) {
		if (seal_store(dir_fd, rot->new_key, kind, name, plain) < 0)
			rot->stats.failed++;
		else
			rot->stats.resealed++;
	} else if (seal_load(dir_fd, rot->new_key, kind, name, &plain) >= 0)
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

	r = seal_read_key(key_path, &old_key);
	if (r < 0)
		return r;
	r = seal_read_key(new_key_path, &new_key);
	if (r < 0)
		return r;
	r = open_dir(dir, &dir_fd);
	if (r < 0)
		return r;
	r = take_lock(dir_fd);
	if (r < 0)
		return r;
	r = seal_check_key(dir_fd, old_key);
	if (r == -EKEYREJECTED && seal_check_key(dir_fd, new_key) == 0) {
		*ret = rot.stats; /* finished before: nothing to do */
		return 0;
	}
	if (r == -EINPROGRESS) {
		/* an interrupted run: the old key must still be the vault's, and the new one
		 * the one it was rotating to (else records would be stranded under two keys) */
		r = seal_keycheck_open(dir_fd, new_key, SEAL_KEYCHECK_NEW_FILE);
		if (r == -EKEYREJECTED)
			return -EEXIST;
		if (r >= 0)
			r = seal_keycheck_open(dir_fd, old_key, SEAL_KEYCHECK_FILE);
	}
	if (r < 0 && r != -ENOENT)
		return r;
	say_holder(dir_fd, "igtokend --rotate-key");
	/* Marks the rotation as under way: the daemon refuses to start until it completes. */
	r = seal_keycheck_write(dir_fd, new_key, SEAL_KEYCHECK_NEW_FILE);
	if (r < 0)
		return r;
	rot.old_key = old_key;
	rot.new_key = new_key;
	r = seal_each_record(dir_fd, rotate_record, &rot);
	if (r < 0)
		return r;
	*ret = rot.stats;
	if (rot.stats.failed > 0)
		return -EBADMSG; /* leave the marker: re-run once the cause is fixed */
	if (renameat(dir_fd, SEAL_KEYCHECK_NEW_FILE, dir_fd, SEAL_KEYCHECK_FILE) < 0)
		return negative_errno();
	if (fsync(dir_fd) < 0)
		return negative_errno();
	return 0;
}
