/* SPDX-License-Identifier: MIT */
#include "serve/listener.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/log.h"
#include "basic/proto.h"
#include "basic/util.h"
#include "serve/unix-socket.h"

#define ACCEPT_BURST 64

struct conn {
	unsigned n_ref;
	struct listener *l;	  /* NULL once closed */
	struct conn *prev, *next; /* oldest first */
	int fd;
	sd_event_source *io, *idle, *resume;
	struct caller caller;
	char *in; /* PROTO_LINE_MAX + 1, wiped: an import carries a token */
	size_t in_len;
	char *out; /* wiped: token answers */
	size_t out_len, out_off, out_size;
	bool held, watcher, closing, in_loop;
	uint64_t last_active; /* CLOCK_BOOTTIME usec of the last complete request */
};

struct listener {
	sd_event *event;
	int fd;
	sd_event_source *listen, *unpause;
	char *bound_path; /* unlinked at exit if we bound it */
	const struct listener_ops *ops;
	void *userdata;
	struct conn *head, *tail;
	unsigned n_conns;
};

/* ---- connections ---- */

struct conn *conn_ref(struct conn *c)
{
	if (c)
		c->n_ref++;
	return c;
}

struct conn *conn_unref(struct conn *c)
{
	if (c && --c->n_ref == 0)
		free(c);
	return NULL;
}

bool conn_is_open(const struct conn *c)
{
	return c->l != NULL;
}

const struct caller *conn_caller(const struct conn *c)
{
	return &c->caller;
}

bool conn_is_watcher(const struct conn *c)
{
	return c->watcher;
}

static void free_buffer(char *p, size_t n)
{
	if (p)
		explicit_bzero(p, n);
	free(p);
}

/* Closes it now; the memory goes with the last reference. */
static void conn_drop(struct conn *c)
{
	struct listener *l = c->l;

	if (!l)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	l->n_conns--;
	c->io = sd_event_source_disable_unref(c->io);
	c->idle = sd_event_source_disable_unref(c->idle);
	c->resume = sd_event_source_disable_unref(c->resume);
	close(c->fd);
	c->fd = -1;
	free_buffer(c->in, PROTO_LINE_MAX + 1);
	free_buffer(c->out, c->out_size);
	c->in = c->out = NULL;
	c->in_len = c->out_len = c->out_off = c->out_size = 0;
	c->l = NULL;
	l->ops->closed(l->userdata, c);
	conn_unref(c); /* the listener's reference */
}

/* The connection is busy now: the idle timer looks at this when it fires, so a
 * request costs no timer or epoll change. */
static void touch(struct conn *c)
{
	(void)sd_event_now(c->l->event, CLOCK_BOOTTIME, &c->last_active);
}

/* Writes what it can; closes a closing connection once it is flushed. */
static void flush(struct conn *c)
{
	while (c->l && c->out_off < c->out_len) {
		ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return; /* the rest goes out on the next EPOLLOUT edge */
			conn_drop(c);	/* the client is gone */
			return;
		}
		explicit_bzero(c->out + c->out_off, (size_t)k);
		c->out_off += (size_t)k;
	}
	if (!c->l)
		return;
	c->out_off = c->out_len = 0;
	if (c->closing)
		conn_drop(c);
}

static int queue_out(struct conn *c, const char *s, size_t n)
{
	size_t need = c->out_len + n + 1;

	if (need - c->out_off > LISTENER_OUTPUT_MAX)
		return -ENOBUFS;
	if (need > c->out_size) {
		size_t ns = MAX(need - c->out_off, c->out_size * 2);
		char *nb = malloc(ns);
		if (!nb)
			return -ENOMEM;
		if (c->out)
			memcpy(nb, c->out + c->out_off, c->out_len - c->out_off);
		free_buffer(c->out, c->out_size);
		c->out_len -= c->out_off;
		c->out_off = 0;
		c->out = nb;
		c->out_size = ns;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out[c->out_len + n] = '\n';
	c->out_len += n + 1;
	return 0;
}

int conn_send(struct conn *c, const char *line, size_t n)
{
	int r;

	if (!c->l)
		return -ENOTCONN;
	r = queue_out(c, line, n);
	if (r < 0) {
		conn_drop(c);
		return r;
	}
	flush(c);
	return 0;
}

void conn_close_after_output(struct conn *c)
{
	if (!c->l)
		return;
	c->closing = true;
	flush(c);
}

void conn_set_watcher(struct conn *c)
{
	c->watcher = true; /* pump() drops its input from now on */
}

void conn_hold(struct conn *c)
{
	c->held = true;
}

/* Hands complete lines over one at a time while no answer is under way. */
static void take_lines(struct conn *c)
{
	struct listener *l = c->l;

	while (c->l && !c->held && !c->watcher && !c->closing) {
		char *nl = memchr(c->in, '\n', c->in_len);
		size_t n;

		if (!nl)
			return;
		n = (size_t)(nl - c->in);
		*nl = '\0';
		touch(c);
		if (n > 0 && !(n == 1 && c->in[0] == '\r')) /* blank lines are ignored */
			l->ops->line(l->userdata, c, c->in, n);
		if (!c->l)
			return;
		explicit_bzero(c->in, n + 1);
		memmove(c->in, c->in + n + 1, c->in_len - n - 1);
		c->in_len -= n + 1;
	}
}

/* Reads what the socket holds (edge-triggered: until EAGAIN) while lines can be
 * taken, and hands the complete ones over. A line longer than PROTO_LINE_MAX is
 * handed over whole-or-not: the callback sees its first PROTO_LINE_MAX + 1 bytes. */
static void pump(struct conn *c)
{
	conn_ref(c);
	c->in_loop = true;
	for (;;) {
		size_t room;
		ssize_t k;

		take_lines(c);
		if (!c->l || c->held || c->closing)
			break;
		if (c->watcher) /* a watcher only talks by hanging up: drop what it sends */
			c->in_len = 0;
		room = PROTO_LINE_MAX + 1 - c->in_len;
		if (room == 0) {
			/* a line longer than the limit: hand it over as it is, to be refused */
			c->in[PROTO_LINE_MAX] = '\0';
			c->l->ops->line(c->l->userdata, c, c->in, PROTO_LINE_MAX + 1);
			if (c->l && !c->closing)
				conn_close_after_output(c);
			break;
		}
		k = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			break;
		if (k <= 0) {
			conn_drop(c); /* hung up, or broken */
			break;
		}
		c->in_len += (size_t)k;
	}
	c->in_loop = false;
	conn_unref(c);
}

static int on_resume(sd_event_source *s, void *userdata)
{
	struct conn *c = userdata;
	(void)s;

	pump(c);
	return 0;
}

void conn_resume(struct conn *c)
{
	c->held = false;
	if (!c->l || c->in_loop)
		return; /* the loop under way takes the next line */
	/* later, from the event loop: never from inside whatever finished the answer */
	if (sd_event_source_set_enabled(c->resume, SD_EVENT_ONESHOT) < 0)
		conn_drop(c);
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct conn *c = userdata;
	(void)s;
	(void)fd;

	conn_ref(c);
	if (revents & EPOLLOUT)
		flush(c);
	if (c->l && (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		pump(c);
	conn_unref(c);
	return 0;
}

static int on_idle(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct conn *c = userdata;
	uint64_t limit = LISTENER_IDLE_SEC * USEC_PER_SEC;

	if (c->held || c->watcher || usec < c->last_active + limit) {
		uint64_t base = c->held || c->watcher ? usec : c->last_active;
		(void)sd_event_source_set_time(s, base + limit);
		(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return 0;
	}
	log_debug("control: closing a connection of uid %u idle for %ds", (unsigned)c->caller.uid,
		  LISTENER_IDLE_SEC);
	conn_drop(c);
	return 0;
}

/* ---- accepting ---- */

/* The oldest connection of this uid (or of anyone) that is merely idle. */
static struct conn *evictable(struct listener *l, const uid_t *uid)
{
	for (struct conn *c = l->head; c; c = c->next)
		if (!c->held && !c->watcher && (!uid || c->caller.uid == *uid))
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

static bool make_room(struct listener *l, uid_t uid)
{
	struct conn *old;

	/* Floods cost the flooder: its oldest idle connection gives way. */
	if (count_uid(l, uid) >= LISTENER_PER_UID_MAX && (old = evictable(l, &uid)))
		conn_drop(old);
	if (l->n_conns >= LISTENER_CONN_MAX && (old = evictable(l, NULL)))
		conn_drop(old);
	return count_uid(l, uid) < LISTENER_PER_UID_MAX && l->n_conns < LISTENER_CONN_MAX;
}

static int add_sources(struct listener *l, struct conn *c)
{
	int r;

	/* edge-triggered: no epoll change per request, and busy connections are not
	 * polled again on every dispatch */
	r = sd_event_add_io(l->event, &c->io, c->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
			    on_conn_io, c);
	if (r < 0)
		return r;
	r = sd_event_add_time_relative(l->event, &c->idle, CLOCK_BOOTTIME,
				       LISTENER_IDLE_SEC * USEC_PER_SEC, USEC_PER_SEC, on_idle, c);
	if (r < 0)
		return r;
	r = sd_event_add_defer(l->event, &c->resume, on_resume, c);
	if (r < 0)
		return r;
	(void)sd_event_source_set_enabled(c->resume, SD_EVENT_OFF);
	(void)sd_event_source_set_description(c->io, "control-conn");
	(void)sd_event_source_set_description(c->idle, "control-idle");
	(void)sd_event_source_set_description(c->resume, "control-resume");
	return 0;
}

static void accept_one(struct listener *l, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c || !(c->in = malloc(PROTO_LINE_MAX + 1)) || unix_socket_peer(fd, &c->caller) < 0 ||
	    !make_room(l, c->caller.uid)) {
		if (c)
			free(c->in);
		free(c);
		close(fd);
		return;
	}
	c->n_ref = 1;
	c->l = l;
	c->fd = fd;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n_conns++;
	touch(c);
	if (add_sources(l, c) < 0)
		conn_drop(c);
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
		conn_drop(l->head);
	sd_event_source_disable_unref(l->listen);
	sd_event_source_disable_unref(l->unpause);
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
		if (all[i]->l)
			fn(all[i], userdata);
		conn_unref(all[i]);
	}
}
