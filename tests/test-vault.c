/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define TAP_COUNTERS
#include "tap.h"
#include "vault-world.h"
#include "basic/fileio.h"
#include "basic/util.h"
#include "store/seal.h"
#include "store/vault.h"

static char tmp[] = "/tmp/igtokend-test-vault-XXXXXX";
static char key2[256];
char key1[256], dir[256];

void make_record(struct vault_record *r, const char *token, int64_t t)
{
	*r = (struct vault_record){ .issued_at = t, .expires_at = t + 5184000, .failures = 1 };
	secret_from_mem(token, strlen(token), &r->token);
	r->user_id = strdup("27640875392278831");
	r->scopes = strdup("instagram_business_basic");
}

void clear_record(struct vault_record *r)
{
	secret_free(r->token);
	free(r->user_id);
	free(r->scopes);
}

static char *slurp(const char *path, size_t *n)
{
	char *d = NULL;
	if (read_file_bounded(AT_FDCWD, path, 0, 1 << 20, &d, n) < 0)
		return NULL;
	return d;
}

static void spit(const char *path, const void *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK_INT(write(fd, d, n), (long long)n);
	close(fd);
}

static void test_keygen(void)
{
	struct stat st;
	size_t n;
	char *d;

	CHECK_INT(seal_keygen(key1), 0);
	CHECK_INT(seal_keygen(key2), 0);
	CHECK_INT(seal_keygen(key1), -EEXIST); /* refuses to overwrite */
	CHECK_INT(stat(key1, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	d = slurp(key1, &n);
	CHECK_INT(n, 65);
	CHECK(d && d[64] == '\n');
	free(d);
}

static void test_roundtrip_and_tamper(void)
{
	struct vault *v = NULL;
	struct vault_record r, *got = NULL;
	char path[512], other[512];
	struct stat st;
	size_t n;
	char *orig;

	CHECK_INT(vault_open(dir, key1, &v), 0);
	if (!v)
		return;
	CHECK_INT(stat(dir, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	make_record(&r, "IGAA-token-one", 1700000000);
	CHECK_INT(vault_store(v, "shop-main", &r), 0);
	CHECK_INT(vault_load(v, "shop-main", &got), 0);
	if (got) {
		CHECK(secret_equal(got->token, r.token));
		CHECK_INT(got->expires_at, 1700000000 + 5184000);
		CHECK_STR(got->user_id, "27640875392278831");
	}
	got = record_free(got);
	/* metadata only: same fields, no token copied out */
	CHECK_INT(vault_load_meta(v, "shop-main", &got), 0);
	if (got) {
		CHECK(got->token == NULL);
		CHECK_INT(got->expires_at, 1700000000 + 5184000);
		CHECK_STR(got->user_id, "27640875392278831");
	}
	got = record_free(got);
	CHECK_INT(vault_load_meta(v, "nobody", &got), -ENOENT);
	snprintf(path, sizeof(path), "%s/shop-main.token", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(vault_load(v, "nobody", &got), -ENOENT);
	CHECK_INT(vault_load(v, "../etc", &got), -EINVAL);

	/* the token never appears in the file */
	orig = slurp(path, &n);
	CHECK(orig && memmem(orig, n, "IGAA-token-one", 14) == NULL);

	/* every flipped byte: -EBADMSG */
	for (size_t i = 0; orig && i < n; i++) {
		orig[i] ^= 0x01;
		spit(path, orig, n);
		CHECK_INT(vault_load(v, "shop-main", &got), -EBADMSG);
		CHECK_INT(vault_load_meta(v, "shop-main", &got), -EBADMSG);
		orig[i] ^= 0x01;
	}
	/* every truncation: -EBADMSG */
	for (size_t i = 0; orig && i < n; i += 7) {
		spit(path, orig, i);
		CHECK_INT(vault_load(v, "shop-main", &got), -EBADMSG);
	}
	spit(path, orig, n);
	CHECK_INT(vault_load(v, "shop-main", &got), 0);
	got = record_free(got);

	/* a file copied under another account's name does not open */
	snprintf(other, sizeof(other), "%s/shop-other.token", dir);
	spit(other, orig, n);
	CHECK_INT(vault_load(v, "shop-other", &got), -EBADMSG);
	unlink(other);
	/* nor does a symlink to a good record */
	CHECK_INT(symlink(path, other), 0);
	CHECK_INT(vault_load(v, "shop-other", &got), -EBADMSG);
	unlink(other);

	/* quarantine */
	CHECK_INT(vault_store(v, "broken", &r), 0);
	snprintf(other, sizeof(other), "%s/broken.token", dir);
	spit(other, "garbage", 7);
	CHECK_INT(vault_load(v, "broken", &got), -EBADMSG);
	CHECK_INT(vault_quarantine(v, "broken", 1234, NULL), 0);
	snprintf(other, sizeof(other), "%s/broken.token.corrupt-1234", dir);
	CHECK_INT(access(other, F_OK), 0);
	CHECK_INT(vault_load(v, "broken", &got), -ENOENT);
	unlink(other);

	/* app records */
	struct app_record a = { .paused_until = 99, .throttle_count = 2 }, b = { 0 };
	CHECK_INT(vault_store_app(v, "shop", &a), 0);
	CHECK_INT(vault_load_app(v, "shop", &b), 0);
	CHECK_INT(b.paused_until, 99);
	CHECK_INT(b.throttle_count, 2);
	/* a token record named like an app does not open as the app */
	snprintf(path, sizeof(path), "%s/shop-main.token", dir);
	snprintf(other, sizeof(other), "%s/shop-main.app", dir);
	spit(other, orig, n);
	CHECK_INT(vault_load_app(v, "shop-main", &b), -EBADMSG);
	unlink(other);

	free(orig);
	clear_record(&r);
	vault_close(v);
}

/* A listing of names, sizes, mtimes and contents: to prove nothing changed. */
static char *snapshot(const char *d)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct dirent **list;
	int n = scandir(d, &list, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		char p[512];
		if (streq(list[i]->d_name, ".") || streq(list[i]->d_name, "..")) {
			free(list[i]); /* the directory's own mtime moves with any temporary file */
			continue;
		}
		struct stat st;
		size_t sz;
		char *data;
		snprintf(p, sizeof(p), "%s/%s", d, list[i]->d_name);
		lstat(p, &st);
		fprintf(f, "%s %lld %lld.%09ld %o\n", list[i]->d_name, (long long)st.st_size,
			(long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_mode);
		if (S_ISREG(st.st_mode) && (data = slurp(p, &sz))) {
			fwrite(data, 1, sz, f);
			free(data);
		}
		free(list[i]);
	}
	free(list);
	fclose(f);
	return out;
}

static void test_wrong_key(void)
{
	struct vault *v = NULL;
	char *before, *after, kc[512];

	before = snapshot(dir);
	CHECK_INT(vault_open(dir, key2, &v), -EKEYREJECTED);
	CHECK(v == NULL);
	after = snapshot(dir);
	CHECK_STR(after, before);
	free(after);

	/* without the key check, a record that does not open still proves the key wrong */
	snprintf(kc, sizeof(kc), "%s/.keycheck", dir);
	char *saved;
	size_t n;
	saved = slurp(kc, &n);
	unlink(kc);
	CHECK_INT(vault_open(dir, key2, &v), -EKEYREJECTED);
	CHECK_INT(access(kc, F_OK), -1); /* still nothing written */
	spit(kc, saved, n);
	free(saved);
	free(before);

	/* a key file readable by others is refused */
	chmod(key2, 0640);
	CHECK_INT(vault_open(dir, key2, &v), -EPERM);
	chmod(key2, 0600);
}

static void test_failed_write_keeps_old(void)
{
	static const char *const faults[] = { "write:ENOSPC", "write:EIO", "fsync:EIO" };
	struct vault *v = NULL;
	struct vault_record r1, r2, *got = NULL;
	char *before, *after;

	CHECK_INT(vault_open(dir, key1, &v), 0);
	if (!v)
		return;
	make_record(&r1, "IGAA-old-token", 1);
	make_record(&r2, "IGAA-new-token", 2);
	CHECK_INT(vault_store(v, "acct", &r1), 0);
	before = snapshot(dir);
	for (size_t i = 0; i < ELEMENTSOF(faults); i++) {
		int want = strstr(faults[i], "ENOSPC") ? -ENOSPC : -EIO;
		setenv("IGTOKEND_TEST_FAULT", faults[i], 1);
		CHECK_INT(vault_store(v, "acct", &r2), want);
		unsetenv("IGTOKEND_TEST_FAULT");
		after = snapshot(dir); /* no temporary left behind, old file untouched */
		CHECK_STR(after, before);
		free(after);
		CHECK_INT(vault_load(v, "acct", &got), 0);
		CHECK(got && secret_equal(got->token, r1.token));
		got = record_free(got);
	}
	free(before);
	clear_record(&r1);
	clear_record(&r2);
	vault_close(v);
}

static void test_rotation(void)
{
	char rdir[512], k3[512];
	struct vault *v = NULL;
	struct vault_rotate_stats st;
	struct vault_record r, *got = NULL;
	int bad = 0;

	snprintf(rdir, sizeof(rdir), "%s/rot", tmp);
	snprintf(k3, sizeof(k3), "%s/key3", tmp);
	CHECK_INT(seal_keygen(k3), 0);
	CHECK_INT(vault_open(rdir, key1, &v), 0);
	for (int i = 0; i < 50; i++) {
		char name[32], tok[32];
		snprintf(name, sizeof(name), "a%02d", i);
		snprintf(tok, sizeof(tok), "IGAA-rot-%d", i);
		make_record(&r, tok, i);
		CHECK_INT(vault_store(v, name, &r), 0);
		clear_record(&r);
	}
	v = vault_close(v);

	/* interrupt rotations at random moments; a re-run always finishes the job */
	for (int t = 0; t < 20; t++) {
		const char *from = t % 2 ? key2 : key1, *to = t % 2 ? key1 : key2;
		pid_t pid = fork();
		if (pid == 0)
			_exit(vault_rotate(rdir, from, to, &st) < 0);
		usleep(randombytes_uniform(3000));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		int k = vault_open(rdir, from, &v);
		CHECK(k == 0 || k == -EINPROGRESS || k == -EKEYREJECTED);
		vault_close(v);
		v = NULL;
		CHECK_INT(vault_rotate(rdir, from, to, &st), 0);
		CHECK_INT(st.failed + st.unreadable, 0);
		CHECK_INT(vault_open(rdir, from, &v), -EKEYREJECTED);
		CHECK_INT(vault_open(rdir, to, &v), 0);
		for (int i = 0; v && i < 50; i++) {
			char name[32], tok[32];
			snprintf(name, sizeof(name), "a%02d", i);
			snprintf(tok, sizeof(tok), "IGAA-rot-%d", i);
			if (vault_load(v, name, &got) < 0 || strcmp(got->token->data, tok) != 0)
				bad++;
			got = record_free(got);
		}
		vault_close(v);
		v = NULL;
	}
	CHECK_INT(bad, 0);
	/* re-running the finished rotation (the last trial went key2 -> key1) changes nothing */
	CHECK_INT(vault_rotate(rdir, key2, key1, &st), 0);
	CHECK_INT(st.resealed, 0);
	/* a third key opens nothing */
	CHECK_INT(vault_rotate(rdir, k3, key2, &st),
		  -EKEYREJECTED); /* neither key is the vault's */
}

/* One daemon or one rotation at a time: a second opener and a rotation are
 * refused while the vault is open, and change nothing. */
static void test_lock(void)
{
	char ldir[512], holder[128] = "", *before, *after;
	struct vault *v = NULL, *w = NULL;
	struct vault_rotate_stats st;
	struct vault_record r;

	snprintf(ldir, sizeof(ldir), "%s/locked", tmp);
	CHECK_INT(vault_open(ldir, key1, &v), 0);
	make_record(&r, "IGAA-locked", 1);
	CHECK_INT(vault_store(v, "a", &r), 0);
	clear_record(&r);
	before = snapshot(ldir);
	CHECK_INT(vault_open(ldir, key1, &w), -EBUSY);
	CHECK(w == NULL);
	CHECK_INT(vault_rotate(ldir, key1, key2, &st), -EBUSY);
	after = snapshot(ldir);
	CHECK_STR(after, before);
	CHECK_INT(vault_lock_holder(ldir, holder, sizeof(holder)), 0);
	CHECK(strncmp(holder, "igtokend (pid ", 14) == 0);
	free(before);
	free(after);
	v = vault_close(v);
	CHECK_INT(vault_open(ldir, key1, &w), 0); /* free again once closed */
	vault_close(w);
}

/* An interrupted rotation to one key must be finished with that key: another
 * would strand the records already moved. */
static void test_rotation_to_another_key(void)
{
	char rdir[512], k3[512], *before, *after;
	struct vault *v = NULL;
	struct vault_rotate_stats st;
	struct vault_record r;
	struct secret *k = NULL;
	int dfd;

	snprintf(rdir, sizeof(rdir), "%s/rot2", tmp);
	snprintf(k3, sizeof(k3), "%s/key4", tmp);
	CHECK_INT(seal_keygen(k3), 0);
	CHECK_INT(vault_open(rdir, key1, &v), 0);
	make_record(&r, "IGAA-rot2", 1);
	CHECK_INT(vault_store(v, "a", &r), 0);
	clear_record(&r);
	v = vault_close(v);
	/* what an interrupted rotation to key2 leaves: its marker */
	CHECK_INT(seal_read_key(key2, &k), 0);
	dfd = open(rdir, O_RDONLY | O_DIRECTORY);
	CHECK_INT(seal_keycheck_write(dfd, k, SEAL_KEYCHECK_NEW_FILE), 0);
	close(dfd);
	secret_free(k);
	before = snapshot(rdir);
	CHECK_INT(vault_rotate(rdir, key1, k3, &st), -EEXIST);
	after = snapshot(rdir);
	CHECK_STR(after, before);
	CHECK_INT(vault_rotate(rdir, key1, key2, &st), 0); /* with the right key it finishes */
	CHECK_INT(vault_open(rdir, key2, &v), 0);
	vault_close(v);
	free(before);
	free(after);
}

/* Quarantined copies of one record within one second keep apart. */
static void test_quarantine_names(void)
{
	char qdir[512];
	struct vault *v = NULL;
	struct vault_record r;
	char *first = NULL, *second = NULL, *third = NULL;

	snprintf(qdir, sizeof(qdir), "%s/quarantine", tmp);
	CHECK_INT(vault_open(qdir, key1, &v), 0);
	make_record(&r, "IGAA-q", 1);
	CHECK_INT(vault_store(v, "a", &r), 0);
	CHECK_INT(vault_quarantine(v, "a", 1800000000, &first), 0);
	CHECK_INT(vault_store(v, "a", &r), 0);
	CHECK_INT(vault_quarantine(v, "a", 1800000000, &second), 0);
	CHECK_INT(vault_store(v, "a", &r), 0);
	CHECK_INT(vault_quarantine(v, "a", 1800000000, &third), 0);
	CHECK_STR(first, "a.token.corrupt-1800000000");
	CHECK_STR(second, "a.token.corrupt-1800000000-1");
	CHECK_STR(third, "a.token.corrupt-1800000000-2");
	clear_record(&r);
	free(first);
	free(second);
	free(third);
	vault_close(v);
}

/* Reads of a record while the writer thread replaces it, again and again: each
 * finds one of the two records whole. The writer empties the file it exchanged
 * away, maybe between a reader's open and its read; the reader must not take
 * that for a corrupt record (account_load() moves a record that does not open
 * aside). On tmpfs the exchange and the emptying are microseconds apart: before
 * the fix, 2 or 3 of ~30 000 reads here failed. */
static unsigned stress_landed;

static void stress_done(int error, void *userdata)
{
	(void)userdata;
	CHECK_INT(error, 0);
	stress_landed++;
}

static void test_reads_during_writes(void)
{
	char shm[] = "/dev/shm/igtokend-test-vault-XXXXXX", vdir[128];
	struct vault *v = NULL;
	struct vault_record r, r2, *got = NULL;
	struct secret *plain = NULL, *plain2 = NULL;
	unsigned writes = 2000, reads = 0, bad = 0;

	if (!mkdtemp(shm)) {
		CHECK(!"mkdtemp in /dev/shm");
		return;
	}
	snprintf(vdir, sizeof(vdir), "%s/vault", shm);
	CHECK_INT(vault_open(vdir, key1, &v), 0);
	if (!v)
		return;
	make_record(&r, "IGAA-token-first", 1700000000);
	make_record(&r2, "IGAA-token-second", 1700000001);
	CHECK_INT(vault_store(v, "a", &r), 0);
	CHECK_INT(record_encode(&r, &plain), 0);
	CHECK_INT(record_encode(&r2, &plain2), 0);
	stress_landed = 0;
	for (unsigned i = 0; i < writes; i++)
		CHECK_INT(vault_store_async(v, "a", i % 2 ? plain : plain2, stress_done, NULL), 0);
	while (stress_landed < writes) {
		int k = vault_load(v, "a", &got);
		reads++;
		if (k < 0 ||
		    !(secret_equal(got->token, r.token) || secret_equal(got->token, r2.token)))
			bad++;
		got = record_free(got);
		vault_dispatch(v);
	}
	printf("# %u reads during %u writes of one record, %u failed or wrong\n", reads, writes,
	       bad);
	CHECK_INT(bad, 0);
	secret_free(plain);
	secret_free(plain2);
	clear_record(&r);
	clear_record(&r2);
	vault_close(v);
	tap_rmtree(shm);
}

int main(void)
{
	if (sodium_init() < 0 || !mkdtemp(tmp))
		return 1;
	snprintf(key1, sizeof(key1), "%s/key1", tmp);
	snprintf(key2, sizeof(key2), "%s/key2", tmp);
	snprintf(dir, sizeof(dir), "%s/deep/vault", tmp);
	test_keygen();
	test_roundtrip_and_tamper();
	test_wrong_key();
	test_failed_write_keeps_old();
	test_crash_trials();
	test_crash_trials_grouped();
	test_rotation();
	test_lock();
	test_rotation_to_another_key();
	test_quarantine_names();
	test_reads_during_writes();
	tap_rmtree(tmp);
	return tap_done("test-vault");
}
