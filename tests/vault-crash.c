/* SPDX-License-Identifier: MIT */
/* test-vault's SIGKILL trials: a child writing the vault is killed at random
 * moments, and what it leaves must open. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/util.h"
#include "store/vault.h"
#define TAP_SHARED
#include "tap.h"
#include "vault-world.h"

/* Runs write_round(vault, t) over and over in a child, SIGKILLs it after 2 ms and up
 * to max_usec more, and opens the vault it leaves (NULL: it does not open). */
static struct vault *crash_writer(void (*write_round)(struct vault *v, int t), int t,
				  uint32_t max_usec)
{
	struct vault *v = NULL;
	pid_t pid = fork();

	if (pid == 0) {
		struct vault *cv = NULL;
		if (vault_open(dir, key1, &cv) < 0)
			_exit(2);
		for (;;)
			write_round(cv, t);
	}
	usleep(2000 + randombytes_uniform(max_usec));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return vault_open(dir, key1, &v) < 0 ? NULL : v;
}

static void write_one(struct vault *v, int t)
{
	static unsigned seq;
	struct vault_record r;
	char tok[64];

	snprintf(tok, sizeof(tok), "IGAA-crash-%d-%u", t, seq);
	make_record(&r, tok, seq++);
	(void)vault_store(v, "crash", &r);
	clear_record(&r);
}

/* A child rewrites one record as fast as it can; we SIGKILL it at random moments.
 * The record must always open, holding one of the tokens that were written. */
void test_crash_trials(void)
{
	/* 200 by default; fewer only where a run is slowed down by valgrind */
	const char *env = getenv("IGTOKEND_CRASH_TRIALS");
	const int trials = env ? (int)strtol(env, NULL, 10) : 200;
	int bad = 0;
	bool written = false; /* once a record was seen, it must always open */

	for (int t = 0; t < trials; t++) {
		struct vault_record *got = NULL;
		struct vault *v = crash_writer(write_one, t, 20000);
		int r;

		if (!v) {
			bad++;
			continue;
		}
		r = vault_load(v, "crash", &got);
		if (written || r != -ENOENT) { /* a loaded machine may kill the first children
						  before any write */
			if (r < 0 || !got || strncmp(got->token->data, "IGAA-crash-", 11) != 0)
				bad++;
			written = true;
		}
		record_free(got);
		vault_close(v);
	}
	CHECK_INT(bad, 0);
	fprintf(stderr, "crash trials: %d, records that did not open: %d\n", trials, bad);
}

static void written_async(int error, void *userdata)
{
	(void)error;
	(void)userdata;
}

/* One group of 8 records, queued at once on the writer thread and waited for. */
static void write_group(struct vault *v, int t)
{
	static unsigned seq;

	for (int i = 0; i < 8; i++) {
		_cleanup_secret_ struct secret *plain = NULL;
		struct vault_record r;
		char tok[64], name[16];
		snprintf(tok, sizeof(tok), "IGAA-group-%d-%u", t, seq);
		snprintf(name, sizeof(name), "group%d", i);
		make_record(&r, tok, seq);
		if (record_encode(&r, &plain) == 0)
			(void)vault_store_async(v, name, plain, written_async, NULL);
		clear_record(&r);
	}
	vault_flush(v);
	seq++;
}

/* The same with the vault's writer thread: a child keeps 8 records changing,
 * each round one group; SIGKILLed at random moments, every record it had
 * written must open, with one of its tokens. */
void test_crash_trials_grouped(void)
{
	const char *env = getenv("IGTOKEND_CRASH_TRIALS");
	const int trials = env ? (int)strtol(env, NULL, 10) / 2 : 100;
	int bad = 0, opened = 0;

	for (int t = 0; t < trials; t++) {
		struct vault *v = crash_writer(write_group, t, 30000);

		if (!v) {
			bad++;
			continue;
		}
		for (int i = 0; i < 8; i++) {
			struct vault_record *got = NULL;
			char name[16];
			int r;
			snprintf(name, sizeof(name), "group%d", i);
			r = vault_load(v, name, &got);
			if (r == -ENOENT)
				continue; /* not written yet */
			opened += r == 0;
			if (r < 0 || strncmp(got->token->data, "IGAA-group-", 11) != 0)
				bad++;
			record_free(got);
		}
		vault_close(v);
	}
	CHECK_INT(bad, 0);
	CHECK(opened > 0 || trials < 50); /* under valgrind a few children may write nothing */
	fprintf(stderr, "grouped crash trials: %d, records opened: %d, did not: %d\n", trials,
		opened, bad);
}
