/* SPDX-License-Identifier: MIT */
#include "serve/listener.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/log.h"
#include "basic/proto.h"
#include "basic/util.h"

#define ACCEPT_BURST	  64
#define EVENTS_PER_WAKEUP 64

struct listener {
	sd_event *event;
	int fd;
	sd_event_source *listen, *unpause, *conns_io;
	int epfd;	  /* the connections' epoll set, one source in sd-event */
	char *bound_path; /* unlinked at exit if we bound it */
	const struct listener_ops *ops;
	void *userdata;
	struct conn *head, *tail;
	unsigned n_conns;
};

/* ---- accepting ---- */

/* The oldest connection of this uid that is not waiting for an answer (watchers
 * included: they count like any connection). */
static struct conn *evictable(struct listener *l, uid_t uid)
{
	for (struct conn *c = l->head; c; c = c->next)
		if (!c->held && c->caller.uid == uid)
			return c;
	return NULL;
}

static unsigned count_uid(struct listener *l, uid_t uid)
{
	unsigned n = 0;

	for (struct conn *c = l->head; c; c = c->next)
		n += c->caller.uid == uid;
	return n;
}

static int cmp_uid(const void *a, const void *b)
{
	uid_t x = *(const uid_t *)a, y = *(const uid_t *)b;

	return (x > y) - (x < y);
}

/* The uid holding the most connections (the global cap is reached: it gives way). */
static bool biggest_uid(struct listener *l, uid_t *ret)
{
	_cleanup_free_ uid_t *u = calloc(l->n_conns + 1, sizeof(uid_t));
	size_t n = 0, best = 0;

	if (!u)
		return false;
	for (struct conn *c = l->head; c; c = c->next)
		u[n++] = c->caller.uid;
	qsort(u, n, sizeof(uid_t), cmp_uid);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && u[j] == u[i]; j++)
			;
		if (j - i > best) {
			best = j - i;
			*ret = u[i];
		}
	}
	return best > 0;
}

/* Floods cost the flooder: its oldest idle connection gives way to its new one;
 * at the global cap, the biggest uid's oldest idle one does. */
static bool make_room(struct listener *l, uid_t uid)
{
	struct conn *old;
	uid_t big;

	if (count_uid(l, uid) >= LISTENER_PER_UID_MAX && (old = evictable(l, uid)))
		conn_close(old);
	if (l->n_conns >= LISTENER_CONN_MAX && biggest_uid(l, &big) && (old = evictable(l, big)))
		conn_close(old);
	return count_uid(l, uid) < LISTENER_PER_UID_MAX && l->n_conns < LISTENER_CONN_MAX;
}

static void on_line(void *userdata, struct conn *c, char *line, size_t n)
{
	struct listener *l = userdata;

	l->ops->line(l->userdata, c, line, n);
}

/* A connection closed: it leaves the list, and whoever refers to it hears so. */
static void on_closed(void *userdata, struct conn *c)
{
	struct listener *l = userdata;

	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	l->n_conns--;
	l->ops->closed(l->userdata, c);
}

static const struct conn_ops conn_ops = { .line = on_line, .closed = on_closed };

static void accept_one(struct listener *l, int fd)
{
	struct caller caller;
	struct conn *c;

	if (unix_socket_peer(fd, &caller) < 0 || !make_room(l, caller.uid) ||
	    conn_new(l->event, l->epfd, fd, &caller, &conn_ops, l, &c) < 0) {
		caller_clear(&caller);
		close(fd);
		return;
	}
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n_conns++;
}

static int on_unpause(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct listener *l = userdata;
	(void)s;
	(void)usec;

	(void)sd_event_source_set_enabled(l->listen, SD_EVENT_ON);
	return 0;
}

/* Out of file descriptors: accepting again at once would fail again at once, so
 * the listener rests a moment (and says so once per pause, not per attempt). */
static void pause_accepting(struct listener *l, int error)
{
	int r = sd_event_source_set_enabled(l->listen, SD_EVENT_OFF);

	if (r >= 0 && !l->unpause)
		r = sd_event_add_time_relative(l->event, &l->unpause, CLOCK_BOOTTIME,
					       LISTENER_ACCEPT_PAUSE_USEC, USEC_PER_MSEC * 10,
					       on_unpause, l);
	else if (r >= 0) {
		r = sd_event_source_set_time_relative(l->unpause, LISTENER_ACCEPT_PAUSE_USEC);
		if (r >= 0)
			r = sd_event_source_set_enabled(l->unpause, SD_EVENT_ONESHOT);
	}
	if (r < 0) {
		(void)sd_event_source_set_enabled(l->listen, SD_EVENT_ON);
		return;
	}
	(void)sd_event_source_set_description(l->unpause, "control-unpause");
	log_warning_errno(error, "control: cannot accept connections (%m); pausing for %llu ms",
			  (unsigned long long)(LISTENER_ACCEPT_PAUSE_USEC / USEC_PER_MSEC));
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct listener *l = userdata;
	(void)s;
	(void)revents;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				pause_accepting(l, -errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warning_errno(-errno, "control: accept failed: %m");
			break;
		}
		accept_one(l, c);
	}
	return 0;
}

/* ---- the connections ---- */

/* sd-event dispatches one source per loop iteration, each after its own
 * epoll_wait(): with a source per connection, a busy socket paid a loop
 * iteration per request. The connections share one epoll set instead, and a
 * wakeup serves every connection that is ready. Each is referenced for the
 * batch, as handling one may close another. */
static int on_conns(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct epoll_event ev[EVENTS_PER_WAKEUP];
	int n = epoll_wait(fd, ev, EVENTS_PER_WAKEUP, 0);
	(void)s;
	(void)revents;
	(void)userdata;

	for (int i = 0; i < n; i++)
		conn_ref(ev[i].data.ptr);
	for (int i = 0; i < n; i++) {
		conn_io(ev[i].data.ptr, ev[i].events);
		conn_unref(ev[i].data.ptr);
	}
	return 0;
}

/* ---- the listening socket ---- */

int listener_new(sd_event *e, int fd, const char *path, const struct listener_ops *ops,
		 void *userdata, struct listener **ret)
{
	struct listener *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->event = sd_event_ref(e);
	l->ops = ops;
	l->userdata = userdata;
	l->fd = fd;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0 ||
	    (r = sd_event_add_io(e, &l->conns_io, l->epfd, EPOLLIN, on_conns, l)) < 0) {
		r = l->epfd < 0 ? negative_errno() : r;
		listener_free(l);
		return r;
	}
	(void)sd_event_source_set_description(l->conns_io, "control-conns");
	if (fd < 0) {
		r = unix_socket_listen(path, &l->fd);
		if (r < 0) {
			listener_free(l);
			return r;
		}
		l->bound_path = strdup(path);
	} else
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	r = sd_event_add_io(e, &l->listen, l->fd, EPOLLIN, on_listen, l);
	if (r < 0) {
		listener_free(l);
		return r;
	}
	(void)sd_event_source_set_description(l->listen, "control-listen");
	*ret = l;
	return 0;
}

struct listener *listener_free(struct listener *l)
{
	if (!l)
		return NULL;
	while (l->head)
		conn_close(l->head);
	sd_event_source_disable_unref(l->listen);
	sd_event_source_disable_unref(l->unpause);
	sd_event_source_disable_unref(l->conns_io);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->fd >= 0)
		close(l->fd);
	if (l->bound_path)
		(void)unlink(l->bound_path);
	free(l->bound_path);
	sd_event_unref(l->event);
	free(l);
	return NULL;
}

void listener_foreach(struct listener *l, void (*fn)(struct conn *c, void *userdata),
		      void *userdata)
{
	/* a snapshot: fn may close connections, which unlinks them */
	size_t n = 0;
	_cleanup_free_ struct conn **all = calloc(l->n_conns + 1, sizeof(*all));

	if (!all)
		return;
	for (struct conn *c = l->head; c; c = c->next)
		all[n++] = conn_ref(c);
	for (size_t i = 0; i < n; i++) {
		if (conn_is_open(all[i]))
			fn(all[i], userdata);
		conn_unref(all[i]);
	}
}
