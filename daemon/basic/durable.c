/* SPDX-License-Identifier: MIT */
#include "basic/durable.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/fileio.h"
#include "basic/testseam.h"
#include "basic/util.h"

/* A group's writes are dispatched together, and the secrets their operations
 * hold are freed together: 64 keeps that burst within the secret pool
 * (basic/secret.c), and a directory sync shared by 64 writes is paid for. */
#define GROUP_MAX 64
/* How long the first write of a group waits for others to share its directory
 * sync: a few milliseconds on top of a Meta round trip of hundreds, during
 * which the old token is served. Nothing waits when someone waits for the
 * write (durable_writer_wait_name(), _flush(), a stop). */
#define GATHER_USEC  5000
#define WRITER_STACK (256 * 1024) /* the thread's needs are small */

struct job {
	int dirfd;
	char name[NAME_MAX + 1];
	char spare[NAME_MAX + 1];
	unsigned char *data;
	size_t size;
	mode_t mode;
	int fd;
	int error;
	bool exchanged;
	durable_done_t done;
	void *userdata;
	struct job *next;
};

struct durable_writer {
	pthread_mutex_t lock;
	pthread_cond_t wake;   /* the thread: something is queued, or stop */
	pthread_cond_t landed; /* waiters: a group is finished */
	pthread_t thread;
	bool started, stopping;
	unsigned hurry;			 /* callers blocked until writes land */
	unsigned queued;		 /* jobs in queue */
	struct job *queue, **queue_tail; /* not begun */
	struct job *busy;		 /* the group under way */
	struct job *done, **done_tail;	 /* finished, waiting for dispatch */
	int efd;
};

/* ---- one group of writes ---- */

static int job_init(struct job *j, int dirfd, const char *name, const void *data, size_t size,
		    mode_t mode)
{
	int r = snprintf(j->spare, sizeof(j->spare), ".%s.tmp", name);

	if (r < 0 || (size_t)r >= sizeof(j->spare) || strlen(name) >= sizeof(j->name))
		return -ENAMETOOLONG;
	memcpy(j->name, name, strlen(name) + 1);
	j->dirfd = dirfd;
	j->data = (unsigned char *)(uintptr_t)data;
	j->size = size;
	j->mode = mode;
	j->fd = -1;
	j->error = 0;
	return 0;
}

/* The spare, overwritten; its descriptor stays open for the sync. */
static void job_write(struct job *j)
{
	/* 0600 until the mode is right: nobody else sees the data early */
	j->fd = openat(j->dirfd, j->spare, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		       0600);
	if (j->fd < 0) {
		j->error = negative_errno();
		return;
	}
	if (fchmod(j->fd, j->mode) < 0)
		j->error = negative_errno();
	else
		j->error = write_all(j->fd, j->data, j->size);
}

static void job_sync(struct job *j)
{
	if (j->fd < 0)
		return;
	if (j->error == 0 && testseam_fsync(j->fd) < 0)
		j->error = negative_errno();
	if (close(j->fd) < 0 && j->error == 0)
		j->error = negative_errno();
	j->fd = -1;
}

/* The plain way: the spare renamed to NAME (its first write, or a file system
 * without RENAME_EXCHANGE). */
static int exchange_or_rename(struct job *j, bool *ret_exchanged)
{
	*ret_exchanged = false;
	if (renameat2(j->dirfd, j->spare, j->dirfd, j->name, RENAME_EXCHANGE) == 0) {
		*ret_exchanged = true;
		return 0;
	}
	if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
		return negative_errno();
	return renameat(j->dirfd, j->spare, j->dirfd, j->name) < 0 ? negative_errno() : 0;
}

static void job_swap(struct job *j)
{
	if (j->error == 0)
		j->error = exchange_or_rename(j, &j->exchanged);
	if (j->error < 0)
		(void)unlinkat(j->dirfd, j->spare, 0);
}

/* The spare now holds what NAME held (a revoked token, say): emptied. Only once
 * the directory is synced: before, NAME on disk may still be that file, and
 * a crash would find it empty. */
static void job_empty_spare(struct job *j)
{
	int fd;

	if (j->error < 0 || !j->exchanged)
		return;
	fd = openat(j->dirfd, j->spare, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		(void)unlinkat(j->dirfd, j->spare, 0);
	else
		close(fd);
}

/* Every spare written, then synced (their write-back started together, so the
 * journal commits are shared), exchanged, each directory synced once (a failure
 * there fails every write of that directory), and the spares emptied. */
static void run_group(struct job *group)
{
	for (struct job *j = group; j; j = j->next)
		job_write(j);
	for (struct job *j = group; group->next && j; j = j->next) /* one write: no use */
		if (j->error == 0)
			(void)sync_file_range(j->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	for (struct job *j = group; j; j = j->next)
		job_sync(j);
	for (struct job *j = group; j; j = j->next)
		job_swap(j);
	for (struct job *j = group; j; j = j->next) {
		bool synced = false;
		int k;

		for (struct job *i = group; i != j && !synced; i = i->next)
			synced = i->dirfd == j->dirfd;
		if (synced)
			continue;
		k = testseam_fsync(j->dirfd) < 0 ? negative_errno() : 0;
		for (struct job *i = j; i && k < 0; i = i->next)
			if (i->dirfd == j->dirfd && i->error == 0)
				i->error = k;
	}
	for (struct job *j = group; j; j = j->next)
		job_empty_spare(j);
}

int durable_replace(int dirfd, const char *name, const void *data, size_t size, mode_t mode)
{
	struct job j = { 0 };
	int r = job_init(&j, dirfd, name, data, size, mode);

	if (r < 0)
		return r;
	run_group(&j);
	return j.error;
}

/* ---- the writer thread ---- */

static bool same_file(const struct job *a, const struct job *b)
{
	return a->dirfd == b->dirfd && streq(a->name, b->name);
}

static bool listed(const struct job *list, const struct job *j)
{
	for (; list; list = list->next)
		if (same_file(list, j))
			return true;
	return false;
}

/* The queue's head, up to GROUP_MAX writes and never two of one file. Locked. */
static struct job *take_group(struct durable_writer *w)
{
	struct job *group = NULL, **tail = &group;
	unsigned n = 0;

	while (w->queue && n < GROUP_MAX && !listed(group, w->queue)) {
		struct job *j = w->queue;
		w->queue = j->next;
		j->next = NULL;
		*tail = j;
		tail = &j->next;
		n++;
	}
	w->queued -= n;
	if (!w->queue)
		w->queue_tail = &w->queue;
	return group;
}

/* Lets more writes join the queue's first, for GATHER_USEC at most. Locked. */
static void gather(struct durable_writer *w)
{
	uint64_t t = now_monotonic_usec() + GATHER_USEC;
	struct timespec until = { .tv_sec = (time_t)(t / USEC_PER_SEC),
				  .tv_nsec = (long)(t % USEC_PER_SEC * 1000) };

	while (w->queued < GROUP_MAX && !w->hurry && !w->stopping)
		if (pthread_cond_timedwait(&w->wake, &w->lock, &until) == ETIMEDOUT)
			break;
}

static void *writer_main(void *userdata)
{
	struct durable_writer *w = userdata;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct job *last;

		while (!w->queue && !w->stopping)
			pthread_cond_wait(&w->wake, &w->lock);
		if (!w->queue)
			break;
		gather(w);
		w->busy = take_group(w);
		pthread_mutex_unlock(&w->lock);
		run_group(w->busy);
		pthread_mutex_lock(&w->lock);
		*w->done_tail = w->busy;
		for (last = w->busy; last->next; last = last->next)
			;
		w->done_tail = &last->next;
		w->busy = NULL;
		pthread_cond_broadcast(&w->landed);
		(void)eventfd_write(w->efd, 1);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int writer_start(struct durable_writer *w)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int r;

	/* no signal is ever delivered to the writer: the event loop takes them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_attr_init(&attr);
	if (r == 0) {
		(void)pthread_attr_setstacksize(&attr, WRITER_STACK);
		r = -pthread_create(&w->thread, &attr, writer_main, w);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		w->started = true;
	return r;
}

int durable_writer_new(struct durable_writer **ret)
{
	struct durable_writer *w = calloc(1, sizeof(*w));
	pthread_condattr_t monotonic;

	if (!w)
		return -ENOMEM;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		int r = negative_errno();
		free(w);
		return r;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &monotonic);
	pthread_condattr_destroy(&monotonic);
	pthread_cond_init(&w->landed, NULL);
	w->queue_tail = &w->queue;
	w->done_tail = &w->done;
	*ret = w;
	return 0;
}

static void free_jobs(struct job *j)
{
	while (j) {
		struct job *next = j->next;
		free(j->data);
		free(j);
		j = next;
	}
}

struct durable_writer *durable_writer_free(struct durable_writer *w)
{
	if (!w)
		return NULL;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stopping = true;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	free_jobs(w->done);
	close(w->efd);
	pthread_cond_destroy(&w->landed);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return NULL;
}

int durable_writer_fd(const struct durable_writer *w)
{
	return w->efd;
}

int durable_writer_submit(struct durable_writer *w, int dirfd, const char *name,
			  unsigned char *data, size_t size, mode_t mode, durable_done_t done,
			  void *userdata)
{
	struct job *j = calloc(1, sizeof(*j));
	int r = j ? job_init(j, dirfd, name, data, size, mode) : -ENOMEM;

	if (r == 0 && !w->started)
		r = writer_start(w);
	if (r < 0) {
		free(j);
		free(data);
		return r;
	}
	j->done = done;
	j->userdata = userdata;
	pthread_mutex_lock(&w->lock);
	*w->queue_tail = j;
	w->queue_tail = &j->next;
	/* the thread is idle, or gathering and now has a full group */
	if (++w->queued == 1 || w->queued == GROUP_MAX)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void durable_writer_dispatch(struct durable_writer *w)
{
	struct job *done;
	eventfd_t n;

	(void)eventfd_read(w->efd, &n);
	pthread_mutex_lock(&w->lock);
	done = TAKE_PTR(w->done);
	w->done_tail = &w->done;
	pthread_mutex_unlock(&w->lock);
	for (struct job *j = done; j; j = j->next)
		j->done(j->error, j->userdata);
	free_jobs(done);
}

void durable_writer_wait_name(struct durable_writer *w, int dirfd, const char *name)
{
	struct job probe = { .dirfd = dirfd };

	if (!w->started || strlen(name) >= sizeof(probe.name))
		return;
	memcpy(probe.name, name, strlen(name) + 1);
	pthread_mutex_lock(&w->lock);
	w->hurry++;
	pthread_cond_signal(&w->wake);
	while (listed(w->queue, &probe) || listed(w->busy, &probe))
		pthread_cond_wait(&w->landed, &w->lock);
	w->hurry--;
	pthread_mutex_unlock(&w->lock);
}

bool durable_writer_idle(struct durable_writer *w)
{
	bool idle;

	if (!w->started)
		return true;
	pthread_mutex_lock(&w->lock);
	idle = !w->queue && !w->busy;
	pthread_mutex_unlock(&w->lock);
	return idle;
}

void durable_writer_flush(struct durable_writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->hurry++;
	pthread_cond_signal(&w->wake);
	while (w->queue || w->busy)
		pthread_cond_wait(&w->landed, &w->lock);
	w->hurry--;
	pthread_mutex_unlock(&w->lock);
	durable_writer_dispatch(w);
}
