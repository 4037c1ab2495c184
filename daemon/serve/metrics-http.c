/* SPDX-License-Identifier: MIT */
#include "serve/metrics-http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>

#include "basic/log.h"
#include "basic/util.h"

#define CACHE_USEC  USEC_PER_SEC /* one rendering serves every scrape within a second */
#define HEADER_POOL (32 * 1024)	 /* bytes of request line and headers per connection */

/* A connection and the deadline for its next complete request. */
struct tracked {
	int fd;
	uint64_t since; /* connected, or last answered */
	bool in_request;
	struct tracked *prev, *next;
};

struct metrics_http {
	sd_event *event;
	struct MHD_Daemon *d;
	sd_event_source *io, *timer, *reaper;
	struct secret *password;
	const struct metrics_http_ops *ops;
	void *userdata;
	struct MHD_Response *cached, *ok, *not_found, *unauthorized, *no_memory;
	uint64_t cached_at;
	struct tracked *conns;
	size_t n_conns;
};

static uint64_t now_usec(void)
{
	return now_monotonic_usec();
}

/* ---- the listening socket ---- */

static int open_listener(const char *listen_on, int *ret_fd)
{
	_cleanup_free_ char *host = NULL;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*ai = NULL;
	char port_s[8];
	uint16_t port;
	int fd, one = 1, r;

	if (parse_host_port(listen_on, &host, &port) < 0)
		return -EINVAL;
	snprintf(port_s, sizeof(port_s), "%u", port);
	r = getaddrinfo(host, port_s, &hints, &ai);
	if (r != 0)
		return r == EAI_SYSTEM ? negative_errno() : -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = negative_errno();
		freeaddrinfo(ai);
		return r;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	r = bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0 ? negative_errno() : 0;
	freeaddrinfo(ai);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* ---- answers ---- */

static struct MHD_Response *text_response(const char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
						MHD_RESPMEM_PERSISTENT);

	if (r)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					"text/plain; charset=utf-8");
	return r;
}

/* The password, compared through fixed-size digests: in constant time whatever its length. */
static bool authorized(struct metrics_http *h, struct MHD_Connection *conn)
{
	unsigned char want[crypto_generichash_BYTES], got[crypto_generichash_BYTES];
	char *pass = NULL, *user = MHD_basic_auth_get_username_password(conn, &pass);
	bool ok = false;

	if (user && pass) {
		crypto_generichash(want, sizeof(want), (const unsigned char *)h->password->data,
				   h->password->len, NULL, 0);
		crypto_generichash(got, sizeof(got), (const unsigned char *)pass, strlen(pass),
				   NULL, 0);
		ok = sodium_memcmp(want, got, sizeof(want)) == 0;
		sodium_memzero(want, sizeof(want));
	}
	if (pass) {
		sodium_memzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return ok;
}

static enum MHD_Result reply_metrics(struct metrics_http *h, struct MHD_Connection *conn)
{
	uint64_t now = now_usec();

	if (!h->cached || now - h->cached_at >= CACHE_USEC) {
		char *text = h->ops->render(h->userdata);
		struct MHD_Response *r =
			text ? MHD_create_response_from_buffer(strlen(text), text,
							       MHD_RESPMEM_MUST_FREE)
			     : NULL;
		if (!r) {
			free(text);
			return MHD_queue_response(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
						  h->no_memory);
		}
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					"text/plain; version=0.0.4; charset=utf-8");
		if (h->cached)
			MHD_destroy_response(
				h->cached); /* connections still sending keep their reference */
		h->cached = r;
		h->cached_at = now;
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, h->cached);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct metrics_http *h = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct tracked *t = ci ? ci->socket_context : NULL;
	bool get = streq(method, MHD_HTTP_METHOD_GET) || streq(method, MHD_HTTP_METHOD_HEAD);
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;

	if (t)
		t->in_request = true; /* the headers are in: the deadline is met */
	if (get && streq(url, "/healthz"))
		return MHD_queue_response(conn, MHD_HTTP_OK, h->ok);
	if (get && streq(url, "/metrics")) {
		if (h->password && !authorized(h, conn))
			return MHD_queue_basic_auth_fail_response(conn, "igtokend",
								  h->unauthorized);
		return reply_metrics(h, conn);
	}
	return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, h->not_found);
}

/* ---- connections and their deadline ---- */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct metrics_http *h = cls;
	struct tracked *t = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		t = calloc(1, sizeof(*t));
		if (!t || !ci) {
			free(t);
			return; /* untracked: MHD's idle timeout still applies */
		}
		t->fd = ci->connect_fd;
		t->since = now_usec();
		t->next = h->conns;
		if (h->conns)
			h->conns->prev = t;
		h->conns = t;
		h->n_conns++;
		*socket_context = t;
		(void)sd_event_source_set_enabled(h->reaper, SD_EVENT_ON);
	} else if (t) {
		if (t->prev)
			t->prev->next = t->next;
		else
			h->conns = t->next;
		if (t->next)
			t->next->prev = t->prev;
		h->n_conns--;
		free(t);
		*socket_context = NULL;
	}
}

/* A request answered: the next one on the connection gets a fresh deadline. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct tracked *t = ci ? ci->socket_context : NULL;
	(void)cls;
	(void)req_cls;
	(void)toe;

	if (t) {
		t->in_request = false;
		t->since = now_usec();
	}
}

/* A client that trickles its request never completes one: it is cut off at the
 * deadline (shutdown(); libmicrohttpd sees the end and closes it). */
static int on_reaper(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct metrics_http *h = userdata;
	uint64_t now = now_usec(), limit = (uint64_t)METRICS_HTTP_DEADLINE_SEC * USEC_PER_SEC;
	(void)usec;

	for (struct tracked *t = h->conns; t; t = t->next)
		if (!t->in_request && now - t->since > limit)
			(void)shutdown(t->fd, SHUT_RDWR);
	if (!h->conns)
		return sd_event_source_set_enabled(s, SD_EVENT_OFF);
	(void)sd_event_source_set_time_relative(s, USEC_PER_SEC);
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* ---- driving libmicrohttpd from sd-event ---- */

static void rearm(struct metrics_http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(h->d, &ms) == MHD_YES) {
		(void)sd_event_source_set_time_relative(h->timer, (uint64_t)ms * 1000);
		(void)sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
	} else
		(void)sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
}

static unsigned connections(struct metrics_http *h)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info ? info->num_connections : 0;
}

/* libmicrohttpd takes its listening socket out of its epoll set at the
 * connection limit and puts it back only at the start of a later run, after
 * the closed connections were cleaned up at the end of this one. Nothing would
 * wake us for that later run (the listening socket is not watched), so a run
 * that closed connections is followed by another at once. */
static void run(struct metrics_http *h)
{
	unsigned before = connections(h);

	(void)MHD_run(h->d);
	if (connections(h) < before)
		(void)MHD_run(h->d);
	rearm(h);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	(void)s;
	(void)fd;
	(void)revents;
	run(userdata);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	run(userdata);
	return 0;
}

int metrics_http_set_password(struct metrics_http *h, const struct secret *password)
{
	struct secret *copy = NULL;
	int r = password ? secret_from_mem(password->data, password->len, &copy) : 0;

	if (r < 0)
		return r;
	secret_free(h->password);
	h->password = copy;
	return 0;
}

int metrics_http_new(sd_event *e, const char *listen_on, const struct secret *password,
		     const struct metrics_http_ops *ops, void *userdata, struct metrics_http **ret)
{
	struct metrics_http *h = calloc(1, sizeof(*h));
	const union MHD_DaemonInfo *info;
	int fd = -1, r;

	if (!h)
		return -ENOMEM;
	h->event = sd_event_ref(e);
	h->ops = ops;
	h->userdata = userdata;
	r = metrics_http_set_password(h, password);
	if (r < 0)
		goto fail;
	h->ok = text_response("ok\n");
	h->not_found = text_response("not found: GET /metrics or /healthz\n");
	h->unauthorized = text_response("unauthorized\n");
	h->no_memory = text_response("out of memory\n");
	r = -ENOMEM;
	if (!h->ok || !h->not_found || !h->unauthorized || !h->no_memory)
		goto fail;
	r = open_listener(listen_on, &fd);
	if (r < 0)
		goto fail;
	h->d = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, h,
				MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)METRICS_HTTP_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)METRICS_HTTP_DEADLINE_SEC,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_POOL,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
	if (!h->d) {
		close(fd);
		r = -EIO;
		goto fail;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	r = -EIO;
	if (!info || (r = sd_event_add_io(e, &h->io, info->epoll_fd, EPOLLIN, on_io, h)) < 0 ||
	    (r = sd_event_add_time_relative(e, &h->timer, CLOCK_MONOTONIC, 0, 1000, on_timer, h)) <
		    0 ||
	    (r = sd_event_add_time_relative(e, &h->reaper, CLOCK_MONOTONIC, USEC_PER_SEC,
					    USEC_PER_SEC / 10, on_reaper, h)) < 0)
		goto fail;
	(void)sd_event_source_set_description(h->io, "metrics-http");
	(void)sd_event_source_set_description(h->timer, "metrics-http-timeout");
	(void)sd_event_source_set_description(h->reaper, "metrics-http-deadline");
	(void)sd_event_source_set_enabled(h->reaper, SD_EVENT_OFF);
	rearm(h);
	*ret = h;
	return 0;
fail:
	metrics_http_free(h);
	return r;
}

static void drop_response(struct MHD_Response **r)
{
	if (*r)
		MHD_destroy_response(*r);
	*r = NULL;
}

struct metrics_http *metrics_http_free(struct metrics_http *h)
{
	if (!h)
		return NULL;
	sd_event_source_disable_unref(h->io);
	sd_event_source_disable_unref(h->timer);
	sd_event_source_disable_unref(h->reaper);
	if (h->d)
		MHD_stop_daemon(
			h->d); /* closes the connections (and their tracking) and the socket */
	drop_response(&h->cached);
	drop_response(&h->ok);
	drop_response(&h->not_found);
	drop_response(&h->unauthorized);
	drop_response(&h->no_memory);
	secret_free(h->password);
	sd_event_unref(h->event);
	free(h);
	return NULL;
}
