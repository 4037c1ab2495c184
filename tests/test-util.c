/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>

#include "basic/secret.h"
#include "tap.h"
#include "basic/durable.h"
#include "basic/fileio.h"
#include "basic/util.h"

static void test_durations(void)
{
	static const struct {
		const char *in;
		int r;
		int64_t sec;
	} t[] = {
		{ "0", 0, 0 },
		{ "90", 0, 90 },
		{ "90s", 0, 90 },
		{ "15m", 0, 900 },
		{ "24h", 0, 86400 },
		{ "15d", 0, 15 * 86400 },
		{ "1d12h", 0, 129600 },
		{ "1h30m15s", 0, 5415 },
		{ "3650d", 0, 3650LL * 86400 },
		{ "", -EINVAL, 0 },
		{ "d", -EINVAL, 0 },
		{ "-5m", -EINVAL, 0 },
		{ "5 m", -EINVAL, 0 },
		{ "5w", -EINVAL, 0 },
		{ "1h30", -EINVAL, 0 },
		{ "3651d", -ERANGE, 0 },
		{ "99999999999999999999", -ERANGE, 0 },
		{ "1.5h", -EINVAL, 0 },
		{ "24 hours", -EINVAL, 0 },
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		int64_t v = -1;
		int r = parse_duration(t[i].in, &v);
		CHECK_INT(r, t[i].r);
		if (r == 0)
			CHECK_INT(v, t[i].sec);
		else
			CHECK_INT(v, -1); /* output untouched on failure */
	}
}

static void test_names(void)
{
	CHECK(name_is_valid("shop-main"));
	CHECK(name_is_valid("a.b_c-D9"));
	CHECK(name_is_valid("x"));
	/* 64 characters, then 65 */
	CHECK(name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	CHECK(!name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	CHECK(!name_is_valid(""));
	CHECK(!name_is_valid(".hidden"));
	CHECK(!name_is_valid("a/b"));
	CHECK(!name_is_valid("a b"));
	CHECK(!name_is_valid(".."));
	CHECK(!name_is_valid("ünïcode"));
	CHECK(!name_is_valid(NULL));
}

static void test_strv_equal(void)
{
	char sa[] = "a", sb[] = "b", sa2[] = "a", sb2[] = "b";
	char *ab[] = { sa, sb, NULL }, *ab2[] = { sa2, sb2, NULL }, *a[] = { sa, NULL },
	     *none[] = { NULL };

	CHECK(strv_equal(ab, ab2));
	CHECK(!strv_equal(ab, a) && !strv_equal(a, ab));
	CHECK(strv_equal(NULL, none) && strv_equal(none, NULL) && strv_equal(NULL, NULL));
	CHECK(!strv_equal(NULL, a));
}

static void test_numbers(void)
{
	int64_t v;
	double d;
	mode_t m;

	CHECK_INT(parse_int64("42", 0, 100, &v), 0);
	CHECK_INT(v, 42);
	CHECK_INT(parse_int64("101", 0, 100, &v), -ERANGE);
	CHECK_INT(parse_int64("4x", 0, 100, &v), -EINVAL);
	CHECK_INT(parse_int64("+4", 0, 100, &v), -EINVAL);
	CHECK_INT(parse_int64("", 0, 100, &v), -EINVAL);
	CHECK_INT(parse_percent("62.5", &d), 0);
	CHECK(d == 62.5);
	CHECK_INT(parse_percent("nan", &d), -ERANGE);
	CHECK_INT(parse_percent("inf", &d), -ERANGE);
	CHECK_INT(parse_percent("-1", &d), -ERANGE);
	CHECK_INT(parse_percent("1e9", &d), -ERANGE);
	CHECK_INT(parse_percent("12abc", &d), -EINVAL);
	CHECK_INT(parse_mode("0440", &m), 0);
	CHECK_INT(m, 0440);
	CHECK_INT(parse_mode("640", &m), 0);
	CHECK_INT(m, 0640);
	CHECK_INT(parse_mode("0800", &m), -EINVAL);
	CHECK_INT(parse_mode("rw-r", &m), -EINVAL);
	CHECK_INT(parse_mode("", &m), -EINVAL);
}

static void test_format(void)
{
	char b[64];

	format_relative(1000 + 3 * 86400 + 4 * 3600 + 5, 1000, b, sizeof(b));
	CHECK_STR(b, "in 3d 4h");
	format_relative(1000 - 2 * 3600, 1000, b, sizeof(b));
	CHECK_STR(b, "2h ago");
	format_relative(1000, 1000, b, sizeof(b));
	CHECK_STR(b, "now");
	format_relative(1000 + 3 * 86400 + 30, 1000, b, sizeof(b));
	CHECK_STR(b, "in 3d");
	format_relative(1000 + 65, 1000, b, sizeof(b));
	CHECK_STR(b, "in 1m 5s");
	format_duration(59, b, sizeof(b));
	CHECK_STR(b, "59s");
	format_duration(0, b, sizeof(b));
	CHECK_STR(b, "0s");
	CHECK_INT(format_int64(b, 0), 1);
	CHECK_STR(b, "0");
	CHECK_INT(format_int64(b, 1767225600), 10);
	CHECK_STR(b, "1767225600");
	CHECK_INT(format_int64(b, -42), 3);
	CHECK_STR(b, "-42");
	CHECK_INT(format_int64(b, INT64_MIN), 20);
	CHECK_STR(b, "-9223372036854775808");
	CHECK_INT(format_int64(b, INT64_MAX), 19);
	CHECK_STR(b, "9223372036854775807");
}

static void test_files(void)
{
	char dir[] = "/tmp/igtokend-test-util-XXXXXX";
	_cleanup_free_ char *data = NULL;
	_cleanup_close_ int dfd = -1;
	struct secret *s = NULL;
	struct stat st;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	dfd = open(dir, O_DIRECTORY | O_RDONLY);
	CHECK_INT(write_file_atomic(dfd, "f", "hello\r\n", 7, 0600), 0);
	CHECK_INT(fstatat(dfd, "f", &st, 0), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(read_file_bounded(dfd, "f", 0, 100, &data, &n), 0);
	CHECK_INT(n, 7);
	data = mfree(data);
	CHECK_INT(read_file_bounded(dfd, "f", 0, 6, &data, &n), -EFBIG);
	CHECK_INT(read_file_bounded(dfd, "missing", 0, 6, &data, &n), -ENOENT);
	/* one trailing \r\n dropped, not more */
	CHECK_INT(secret_read_file(dfd, "f", 0, &s), 0);
	CHECK_INT(s->len, 5);
	CHECK(memcmp(s->data, "hello", 5) == 0 && s->data[5] == '\0');
	s = secret_free(s);
	CHECK_INT(write_file_atomic(dfd, "g", "x\n\n", 3, 0600), 0);
	CHECK_INT(secret_read_file(dfd, "g", 0, &s), 0);
	CHECK_INT(s->len, 2);
	s = secret_free(s);
	CHECK_INT(write_file_atomic(dfd, "e", "\n", 1, 0600), 0);
	CHECK_INT(secret_read_file(dfd, "e", 0, &s), -ENODATA);

	/* trusted and private files: checked on the descriptor that is read */
	char why[256];
	CHECK_INT(secret_read_file(dfd, "f", FILE_PRIVATE, &s), 0);
	s = secret_free(s);
	CHECK_INT(symlinkat("f", dfd, "link"), 0);
	CHECK_INT(secret_read_file(dfd, "link", FILE_PRIVATE, &s), -ELOOP);
	CHECK_INT(read_file_bounded(dfd, "link", FILE_TRUSTED, 100, &data, &n), -ELOOP);
	file_explain(dfd, "link", FILE_PRIVATE, why, sizeof(why));
	CHECK_STR(why, "is a symbolic link (name the file itself)");
	CHECK_INT(fchmodat(dfd, "f", 0640, 0), 0);
	CHECK_INT(secret_read_file(dfd, "f", FILE_PRIVATE, &s), -EPERM);
	file_explain(dfd, "f", FILE_PRIVATE, why, sizeof(why));
	CHECK_STR(why, "is readable by group or others (mode 0640); run chmod 0600 on it");
	CHECK_INT(read_file_bounded(dfd, "f", FILE_TRUSTED, 100, &data, &n),
		  0); /* readable is fine */
	data = mfree(data);
	CHECK_INT(fchmodat(dfd, "f", 0664, 0), 0);
	CHECK_INT(read_file_bounded(dfd, "f", FILE_TRUSTED, 100, &data, &n), -EPERM);
	file_explain(dfd, "f", FILE_TRUSTED, why, sizeof(why));
	CHECK_STR(why, "is writable by group or others (mode 0664); run chmod go-w on it");
	CHECK_INT(fchmodat(dfd, "f", 0600, 0), 0);
	if (geteuid() == 0) {
		CHECK_INT(fchownat(dfd, "f", 65534, 65534, 0), 0);
		CHECK_INT(secret_read_file(dfd, "f", FILE_PRIVATE, &s), -EPERM);
		file_explain(dfd, "f", FILE_PRIVATE, why, sizeof(why));
		CHECK_STR(why,
			  "is owned by uid 65534, not by root, the user igtokend runs as (uid 0) "
			  "or the service user " IGTOKEND_SERVICE_USER);
	}
	unlinkat(dfd, "link", 0);
	unlinkat(dfd, "f", 0);
	unlinkat(dfd, "g", 0);
	unlinkat(dfd, "e", 0);
	rmdir(dir);
}

static void test_secret(void)
{
	struct secret *a = NULL, *b = NULL, *c = NULL;
	char fa[SECRET_FP_LEN], fb[SECRET_FP_LEN], fc[SECRET_FP_LEN];

	CHECK_INT(secret_from_mem("IGAAtoken-one", 13, &a), 0);
	CHECK_INT(secret_from_mem("IGAAtoken-one", 13, &b), 0);
	CHECK_INT(secret_from_mem("IGAAtoken-two", 13, &c), 0);
	CHECK(secret_equal(a, b));
	CHECK(!secret_equal(a, c));
	secret_fingerprint(a, fa);
	secret_fingerprint(b, fb);
	secret_fingerprint(c, fc);
	CHECK_INT(strlen(fa), 8);
	CHECK_STR(fa, fb);
	CHECK(strcmp(fa, fc) != 0);
	CHECK(strstr(fa, "IGAA") == NULL);
	CHECK_INT(secret_new(SECRET_ALLOC_MAX + 1, &c), -EMSGSIZE);
	secret_free(a);
	secret_free(b);
	secret_free(c);
	{
		/* small secrets reuse blocks: one ends where its block does (at the guard
		 * page), a freed one's bytes are wiped, and the block serves the next */
		struct secret *p = NULL, *q = NULL, *big = NULL;
		char *block, *where;
		bool wiped = true;

		CHECK_INT(secret_from_mem("IGAAsecret-bytes", 16, &p), 0);
		block = p->block;
		where = p->data;
		CHECK(block != NULL && p->data + p->len + 1 == block + SECRET_POOL_BLOCK);
		secret_free(p);
		for (size_t i = 0; i < SECRET_POOL_BLOCK; i++) /* still mapped: kept in the pool */
			wiped = wiped && block[i] == 0;
		CHECK(wiped);
		CHECK(where[0] == 0);
		CHECK_INT(secret_from_mem("x", 1, &q), 0);
		CHECK(q->block == block);
		CHECK_INT(secret_new(SECRET_POOL_BLOCK, &big), 0);
		CHECK(big->block == NULL);
		secret_free(q);
		secret_free(big);
	}
}

/* Replacement through a spare: the contents change, no inode is made or
 * deleted after the first two writes, and the old contents do not stay in the
 * spare. */
static void test_durable(void)
{
	char dir[] = "/tmp/igtokend-test-durable-XXXXXX";
	_cleanup_free_ char *data = NULL;
	_cleanup_close_ int dfd = -1;
	struct stat live, spare, live2, spare2;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	dfd = open(dir, O_DIRECTORY | O_RDONLY);
	CHECK_INT(durable_replace(dfd, "r.token", "one", 3, 0600), 0); /* first: a rename */
	CHECK_INT(fstatat(dfd, ".r.token.tmp", &spare, 0), -1);
	CHECK_INT(durable_replace(dfd, "r.token", "two-two", 7, 0640), 0);
	CHECK_INT(read_file_bounded(dfd, "r.token", 0, 100, &data, &n), 0);
	CHECK(n == 7 && memcmp(data, "two-two", 7) == 0);
	data = mfree(data);
	CHECK_INT(fstatat(dfd, "r.token", &live, 0), 0);
	CHECK_INT(live.st_mode & 07777, 0640);
	CHECK_INT(fstatat(dfd, ".r.token.tmp", &spare, 0), 0);
	CHECK_INT(spare.st_size, 0); /* "one" is not kept beside it */
	CHECK_INT(durable_replace(dfd, "r.token", "three", 5, 0600), 0);
	CHECK_INT(fstatat(dfd, "r.token", &live2, 0), 0);
	CHECK_INT(fstatat(dfd, ".r.token.tmp", &spare2, 0), 0);
	/* the two inodes took turns */
	CHECK(live2.st_ino == spare.st_ino && spare2.st_ino == live.st_ino);
	CHECK_INT(read_file_bounded(dfd, "r.token", 0, 100, &data, &n), 0);
	CHECK(n == 5 && memcmp(data, "three", 5) == 0);
	(void)unlinkat(dfd, "r.token", 0);
	(void)unlinkat(dfd, ".r.token.tmp", 0);
	CHECK_INT(rmdir(dir), 0);
}

struct written {
	unsigned n;
	int error[16];
};

static void on_written(int error, void *userdata)
{
	struct written *w = userdata;
	w->error[w->n++] = error;
}

static void submit(struct durable_writer *w, int dfd, const char *name, const char *text,
		   struct written *log)
{
	CHECK_INT(durable_writer_submit(w, dfd, name, (unsigned char *)strdup(text), strlen(text),
					0600, on_written, log),
		  0);
}

static bool holds(int dfd, const char *name, const char *text)
{
	_cleanup_free_ char *data = NULL;
	size_t n;

	return read_file_bounded(dfd, name, 0, 100, &data, &n) == 0 && n == strlen(text) &&
	       memcmp(data, text, n) == 0;
}

/* The writer thread: writes of one name land in order, each reports its own
 * outcome, and only from dispatch; wait_name() returns once the name's writes
 * landed; what is queued when the writer is freed still lands. */
static void test_durable_writer(void)
{
	char dir[] = "/tmp/igtokend-test-writer-XXXXXX";
	_cleanup_close_ int dfd = -1;
	struct durable_writer *w = NULL;
	struct written log = { 0 };
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	dfd = open(dir, O_DIRECTORY | O_RDONLY);
	CHECK_INT(mkdirat(dfd, ".bad.token.tmp", 0700), 0); /* its spare cannot be written */
	CHECK_INT(durable_writer_new(&w), 0);
	submit(w, dfd, "a.token", "a1", &log);
	submit(w, dfd, "a.token", "a2", &log);
	submit(w, dfd, "bad.token", "never", &log);
	submit(w, dfd, "b.token", "b1", &log);
	submit(w, dfd, "a.token", "a3", &log);
	durable_writer_wait_name(w, dfd, "a.token");
	CHECK(holds(dfd, "a.token", "a3"));
	CHECK_INT(log.n, 0); /* nothing reports outside dispatch */
	durable_writer_flush(w);
	CHECK_INT(log.n, 5);
	CHECK_INT(log.error[0], 0);
	CHECK_INT(log.error[1], 0);
	CHECK_INT(log.error[2], -EISDIR);
	CHECK_INT(log.error[3], 0);
	CHECK_INT(log.error[4], 0);
	CHECK(holds(dfd, "b.token", "b1"));
	CHECK_INT(fstatat(dfd, "bad.token", &st, 0), -1);
	CHECK_INT(fstatat(dfd, ".a.token.tmp", &st, 0), 0);
	CHECK_INT(st.st_size, 0);
	submit(w, dfd, "c.token", "c1", &log);
	w = durable_writer_free(w);
	CHECK(holds(dfd, "c.token", "c1"));
	CHECK_INT(log.n, 5);
	for (const char *const *f = (const char *const[]){ "a.token", ".a.token.tmp", "b.token",
							   ".b.token.tmp", "c.token", NULL };
	     *f; f++)
		(void)unlinkat(dfd, *f, 0);
	(void)unlinkat(dfd, ".bad.token.tmp", AT_REMOVEDIR);
	CHECK_INT(rmdir(dir), 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_durations();
	test_names();
	test_strv_equal();
	test_numbers();
	test_format();
	test_files();
	test_secret();
	test_durable();
	test_durable_writer();
	return tap_done("test-util");
}
