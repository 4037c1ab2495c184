/* SPDX-License-Identifier: MIT */
#include "serve/conn.h"

#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "basic/log.h"
#include "basic/proto.h"
#include "basic/util.h"

struct conn *conn_ref(struct conn *c)
{
	if (c)
		c->n_ref++;
	return c;
}

struct conn *conn_unref(struct conn *c)
{
	if (c && --c->n_ref == 0) {
		caller_clear(&c->caller);
		free(c);
	}
	return NULL;
}

bool conn_is_open(const struct conn *c)
{
	return c->open;
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

static uint64_t now_usec(struct conn *c)
{
	uint64_t t = 0;

	(void)sd_event_now(c->event, CLOCK_BOOTTIME, &t);
	return t;
}

/* Tells whoever waits for the client to read (a streamed answer), once. */
static void drained(struct conn *c)
{
	void (*fn)(void *) = c->drain;

	if (!fn)
		return;
	c->drain = NULL;
	fn(c->drain_userdata);
}

void conn_close(struct conn *c)
{
	if (!c->open)
		return;
	c->open = false;
	(void)epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->idle = sd_event_source_disable_unref(c->idle);
	c->resume = sd_event_source_disable_unref(c->resume);
	close(c->fd);
	c->fd = -1;
	free_buffer(c->in, c->in_size);
	free_buffer(c->out, c->out_size);
	c->in = c->out = NULL;
	c->in_len = c->in_size = c->out_len = c->out_off = c->out_size = 0;
	drained(c); /* a streamed answer learns that it goes nowhere */
	c->ops->closed(c->userdata, c);
	conn_unref(c); /* the reference it was made with */
}

static size_t unsent(const struct conn *c)
{
	return c->out_len - c->out_off;
}

/* Over the output bound, no request is read: the next ones wait until the client reads. */
static bool backpressure(const struct conn *c)
{
	return unsent(c) > CONN_OUTPUT_MAX;
}

static void schedule_pump(struct conn *c)
{
	if (c->open && !c->in_loop && sd_event_source_set_enabled(c->resume, SD_EVENT_ONESHOT) < 0)
		conn_close(c);
}

/* Writes what it can; closes a closing connection once it is flushed. */
static void flush(struct conn *c)
{
	bool was_over = backpressure(c);

	while (c->open && c->out_off < c->out_len) {
		ssize_t k =
			send(c->fd, c->out + c->out_off, unsent(c), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break; /* the rest goes out on the next EPOLLOUT edge */
			conn_close(c); /* the client is gone */
			return;
		}
		explicit_bzero(c->out + c->out_off, (size_t)k);
		c->out_off += (size_t)k;
	}
	if (!c->open)
		return;
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->closing) {
			conn_close(c);
			return;
		}
	}
	if (c->drain && unsent(c) < CONN_DRAIN_LOW)
		drained(c);
	if (!c->open)
		return;
	if (!backpressure(c)) {
		c->over_since = 0;
		if (was_over && !c->held)
			schedule_pump(c); /* the client read: its next requests may come */
	}
}

static int queue_out(struct conn *c, const char *s, size_t n, bool end_of_line)
{
	size_t need = c->out_len + n + 1;

	if (c->watcher && unsent(c) + n + 1 > CONN_WATCHER_MAX)
		return -ENOBUFS;
	if (need > c->out_size) {
		size_t ns = MAX(unsent(c) + n + 1, c->out_size * 2);
		char *nb = malloc(ns);
		if (!nb)
			return -ENOMEM;
		if (c->out)
			memcpy(nb, c->out + c->out_off, unsent(c));
		free_buffer(c->out, c->out_size);
		c->out_len -= c->out_off;
		c->out_off = 0;
		c->out = nb;
		c->out_size = ns;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	if (end_of_line)
		c->out[c->out_len++] = '\n';
	if (backpressure(c) && !c->over_since)
		c->over_since = MAX(now_usec(c), 1u);
	return 0;
}

size_t conn_unsent(const struct conn *c)
{
	return unsent(c);
}

void conn_notify_drain(struct conn *c, void (*fn)(void *userdata), void *userdata)
{
	c->drain = fn;
	c->drain_userdata = userdata;
	c->drain_since = now_usec(c);
	if (!c->open || unsent(c) < CONN_DRAIN_LOW)
		drained(c);
}

int conn_send(struct conn *c, const char *line, size_t n)
{
	return conn_write(c, line, n, true);
}

int conn_write(struct conn *c, const char *s, size_t n, bool end_of_line)
{
	int r;

	if (!c->open)
		return -ENOTCONN;
	r = queue_out(c, s, n, end_of_line);
	if (r < 0) {
		conn_close(c);
		return r;
	}
	flush(c);
	return 0;
}

void conn_close_after_output(struct conn *c)
{
	if (!c->open)
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

/* Hands complete lines over one at a time while no answer is under way, the
 * output is under its bound and this wakeup's budget lasts. */
static void take_lines(struct conn *c, unsigned *budget)
{
	while (c->open && !c->held && !c->watcher && !c->closing && !backpressure(c) &&
	       *budget > 0) {
		char *nl = c->in_len > 0 ? memchr(c->in, '\n', c->in_len) : NULL;
		size_t n;

		if (!nl)
			return;
		n = (size_t)(nl - c->in);
		*nl = '\0';
		if (n > 0 && !(n == 1 && c->in[0] == '\r')) { /* blank lines are no activity */
			c->last_active = now_usec(c);
			(*budget)--;
			c->ops->line(c->userdata, c, c->in, n);
		}
		if (!c->open)
			return;
		explicit_bzero(c->in, n + 1);
		memmove(c->in, c->in + n + 1, c->in_len - n - 1);
		c->in_len -= n + 1;
	}
}

/* Room to read into: the buffer grows (to PROTO_LINE_MAX + 1) only for long requests. */
static size_t input_room(struct conn *c)
{
	if (c->in_len == c->in_size && c->in_size < PROTO_LINE_MAX + 1) {
		size_t ns = MIN(MAX(c->in_size * 4, (size_t)CONN_IN_INITIAL),
				(size_t)PROTO_LINE_MAX + 1);
		char *nb = malloc(ns);
		if (!nb)
			return 0;
		if (c->in)
			memcpy(nb, c->in, c->in_len);
		free_buffer(c->in, c->in_size);
		c->in = nb;
		c->in_size = ns;
	}
	return c->in_size - c->in_len;
}

/* A line longer than the limit: handed over as it is (to be refused), then the connection closes. */
static void too_long(struct conn *c)
{
	c->in[PROTO_LINE_MAX] = '\0';
	c->last_active = now_usec(c);
	c->ops->line(c->userdata, c, c->in, PROTO_LINE_MAX + 1);
	if (c->open && !c->closing)
		conn_close_after_output(c);
}

/* Reads what the socket holds (edge-triggered: until a short read or EAGAIN) while lines can be
 * taken, and hands the complete ones over. After CONN_LINES_PER_WAKEUP
 * requests it yields and comes back from the event loop, so a busy client
 * cannot starve the others. */
static void pump(struct conn *c)
{
	unsigned budget = CONN_LINES_PER_WAKEUP;

	conn_ref(c);
	c->in_loop = true;
	for (;;) {
		size_t room;
		ssize_t k;

		take_lines(c, &budget);
		if (!c->open || c->held || c->closing || backpressure(c))
			break; /* an answer, or the client's reading, brings it back */
		if (budget == 0) {
			c->in_loop = false;
			schedule_pump(c);
			c->in_loop = true;
			break;
		}
		if (c->watcher) /* a watcher only talks by hanging up: drop what it sends */
			c->in_len = 0;
		if (!c->readable)
			break; /* drained: the next edge brings it back */
		room = input_room(c);
		if (room == 0) {
			if (c->in_size < PROTO_LINE_MAX + 1) {
				conn_close(c); /* out of memory */
				break;
			}
			too_long(c);
			break;
		}
		k = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			c->readable = false;
			break;
		}
		if (k <= 0) {
			conn_close(c); /* hung up, or broken */
			break;
		}
		c->in_len += (size_t)k;
		/* A short read took all there was: no second recv() just to see EAGAIN.
		 * After a hang-up, reading goes on to the end. */
		if ((size_t)k < room && !c->hup)
			c->readable = false;
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
	/* later, from the event loop: never from inside whatever finished the answer */
	schedule_pump(c);
}

void conn_io(struct conn *c, uint32_t revents)
{
	if (!c->open)
		return; /* closed by an earlier event of the same wakeup */
	conn_ref(c);
	if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->readable = true;
	if (revents & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->hup = true;
	if (revents & EPOLLOUT)
		flush(c);
	if (c->open && (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		pump(c);
	conn_unref(c);
}

static int on_idle(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct conn *c = userdata;
	uint64_t limit = CONN_IDLE_SEC * USEC_PER_SEC, base;

	if (c->drain && usec >= c->drain_since + limit) {
		log_debug("control: closing a connection of uid %u that has not read its answer "
			  "for %ds",
			  (unsigned)c->caller.uid, CONN_IDLE_SEC);
		conn_close(c);
		return 0;
	}
	if (c->over_since && usec >= c->over_since + limit) {
		log_debug("control: closing a connection of uid %u that has not read its answers "
			  "for %ds",
			  (unsigned)c->caller.uid, CONN_IDLE_SEC);
		conn_close(c);
		return 0;
	}
	if (c->drain)
		base = c->drain_since;
	else if (c->over_since)
		base = c->over_since;
	else if (c->held || c->watcher)
		base = usec;
	else if (usec < c->last_active + limit)
		base = c->last_active;
	else {
		log_debug("control: closing a connection of uid %u idle for %ds",
			  (unsigned)c->caller.uid, CONN_IDLE_SEC);
		conn_close(c);
		return 0;
	}
	(void)sd_event_source_set_time(s, base + limit);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

int conn_new(sd_event *e, int epfd, int fd, struct caller *caller, const struct conn_ops *ops,
	     void *userdata, struct conn **ret)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	int r;

	if (!c)
		return -ENOMEM;
	c->n_ref = 1;
	c->open = true;
	c->event = e;
	c->ops = ops;
	c->userdata = userdata;
	c->fd = fd;
	c->caller = *caller;
	*caller = (struct caller){ 0 };
	c->last_active = now_usec(c);
	c->readable = true;
	c->epfd = epfd;
	ev.data.ptr = c;
	r = sd_event_add_time_relative(e, &c->idle, CLOCK_BOOTTIME, CONN_IDLE_SEC * USEC_PER_SEC,
				       USEC_PER_SEC, on_idle, c);
	if (r >= 0)
		r = sd_event_add_defer(e, &c->resume, on_resume, c);
	/* In the listener's epoll set (one wakeup serves every ready connection),
	 * edge-triggered: no epoll change per request. */
	if (r >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		r = negative_errno();
	if (r < 0) {
		sd_event_source_disable_unref(c->resume);
		sd_event_source_disable_unref(c->idle);
		caller_clear(&c->caller);
		free(c);
		return r;
	}
	(void)sd_event_source_set_enabled(c->resume, SD_EVENT_OFF);
	(void)sd_event_source_set_description(c->idle, "control-idle");
	(void)sd_event_source_set_description(c->resume, "control-resume");
	*ret = c;
	return 0;
}
