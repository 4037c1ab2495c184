/* SPDX-License-Identifier: MIT */
#include "net/etcd-watch.h"

#include <inttypes.h>
#include <stdio.h>

#include "basic/util.h"
#include "net/etcd-build.h"
#include "net/http.h"

struct etcd_watch {
	struct etcd_client *client;
	struct http_request *req;
	sd_event_source *dead, *end, *deliver;
	/* lines as they came, handed on from the event loop: a callback may call
	 * etcd, which libcurl refuses from inside its own callbacks */
	char **lines;
	size_t *lens, n_lines;
	uint64_t dead_usec;
	const struct etcd_watch_ops *ops;
	void *userdata;
	int error;
	char why[160];
	int64_t compact_revision;
	size_t endpoint; /* the member it streams from */
};

void etcd_watch_free(struct etcd_watch *w)
{
	if (!w)
		return;
	if (w->req)
		http_request_cancel(w->req);
	sd_event_source_disable_unref(w->dead);
	sd_event_source_disable_unref(w->end);
	sd_event_source_disable_unref(w->deliver);
	for (size_t i = 0; i < w->n_lines; i++)
		free(w->lines[i]);
	free(w->lines);
	free(w->lens);
	free(w);
}

static int on_end(sd_event_source *s, void *userdata)
{
	struct etcd_watch *w = userdata;
	(void)s;

	w->ops->ended(w->error, w->why, w->compact_revision, w->userdata);
	etcd_watch_free(w);
	return 0;
}

/* Ends the watch from the event loop, not from inside libcurl's callbacks. */
static void end_soon(struct etcd_watch *w, int error, const char *why)
{
	if (w->end)
		return;
	w->error = error;
	snprintf(w->why, sizeof(w->why), "%s", why ?: "");
	if (sd_event_add_defer(etcd_client_event(w->client), &w->end, on_end, w) < 0)
		w->end = NULL; /* no memory: the dead-stream timer ends it */
	else
		(void)sd_event_source_set_description(w->end, "etcd-watch-end");
}

static void take_line(struct etcd_watch *w, const char *line, size_t len)
{
	struct etcd_watch_msg m;
	char why[160];
	int code;

	if (etcd_parse_watch(line, len, &m) < 0) {
		if (etcd_parse_error(line, len, &code, why, sizeof(why)) > 0)
			end_soon(w, -EPROTO, why);
		else
			end_soon(w, -EBADMSG,
				 "etcd's watch stream holds what the gateway never sends");
		return;
	}
	if (m.canceled) {
		w->compact_revision = m.compact_revision;
		end_soon(w, -ESTALE,
			 m.cancel_reason[0] ? m.cancel_reason : "etcd cancelled the watch");
	} else
		w->ops->message(&m, w->userdata);
	etcd_watch_msg_clear(&m);
}

static int on_deliver(sd_event_source *s, void *userdata)
{
	struct etcd_watch *w = userdata;
	(void)s;

	for (size_t i = 0; i < w->n_lines; i++) {
		if (!w->end)
			take_line(w, w->lines[i], w->lens[i]);
		free(w->lines[i]);
	}
	w->n_lines = 0;
	return 0;
}

static void on_line(const char *line, size_t len, void *userdata)
{
	struct etcd_watch *w = userdata;
	char **lines;
	size_t *lens;
	char *copy;

	if (w->end)
		return;
	(void)sd_event_source_set_time_relative(w->dead, w->dead_usec);
	if (len == 0)
		return;
	lines = reallocarray(w->lines, w->n_lines + 1, sizeof(*lines));
	if (lines)
		w->lines = lines;
	lens = reallocarray(w->lens, w->n_lines + 1, sizeof(*lens));
	if (lens)
		w->lens = lens;
	copy = lines && lens ? strndup(line, len) : NULL;
	if (!copy) {
		end_soon(w, -ENOMEM, "out of memory");
		return;
	}
	w->lines[w->n_lines] = copy;
	w->lens[w->n_lines++] = len;
	(void)sd_event_source_set_enabled(w->deliver, SD_EVENT_ONESHOT);
}

static void on_closed(const struct http_response *r, void *userdata)
{
	struct etcd_watch *w = userdata;

	w->req = NULL; /* freed by http.c after this */
	/* the lines before the end first: they may say why it ended (outside
	 * libcurl's callbacks here: a callback may call etcd) */
	(void)on_deliver(NULL, w);
	if (r->error || r->status != 200)
		etcd_client_failed(w->client, w->endpoint);
	end_soon(w, r->error ?: -ECONNRESET, r->error ? r->error_text : "etcd closed the watch");
}

static int on_dead(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct etcd_watch *w = userdata;
	struct etcd_client *c = w->client;
	(void)s;
	(void)usec;

	/* nothing, not even a progress notification: the stream is dead */
	etcd_client_failed(c, w->endpoint);
	w->error = -ETIMEDOUT;
	snprintf(w->why, sizeof(w->why), "no word from etcd on the watch for %" PRIu64 " ms",
		 w->dead_usec / USEC_PER_MSEC);
	w->ops->ended(w->error, w->why, 0, w->userdata);
	etcd_watch_free(w);
	return 0;
}

int etcd_watch(struct etcd_client *c, const char *key, const char *range_end,
	       int64_t start_revision, uint64_t dead_usec, const struct etcd_watch_ops *ops,
	       void *userdata, struct etcd_watch **ret)
{
	_cleanup_secret_ struct secret *url = NULL, *body = NULL;
	const struct secret *auth;
	char *json = etcd_build_watch(key, range_end, start_revision);
	struct etcd_watch *w;
	int k;

	if (!json)
		return -ENOMEM;
	k = secret_from_mem(json, strlen(json), &body);
	free(json);
	if (k < 0)
		return k;
	k = etcd_client_auth(c, &auth);
	if (k < 0)
		return k; /* a call first: it fetches the token */
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->client = c;
	w->ops = ops;
	w->userdata = userdata;
	w->dead_usec = dead_usec;
	k = sd_event_add_time_relative(etcd_client_event(c), &w->dead, CLOCK_MONOTONIC, dead_usec,
				       100 * USEC_PER_MSEC, on_dead, w);
	if (k >= 0)
		k = sd_event_add_defer(etcd_client_event(c), &w->deliver, on_deliver, w);
	if (k >= 0) /* before the end of the stream is told (end_soon) */
		k = sd_event_source_set_priority(w->deliver, SD_EVENT_PRIORITY_IMPORTANT);
	if (k >= 0)
		k = sd_event_source_set_enabled(w->deliver, SD_EVENT_OFF);
	w->endpoint = etcd_client_endpoint_index(c);
	if (k >= 0)
		k = etcd_client_url(c, "/v3/watch", &url);
	if (k >= 0)
		k = http_post_json(etcd_client_http(c), url, auth, body, on_line, on_closed, w,
				   &w->req);
	if (k < 0) {
		etcd_watch_free(w);
		return k;
	}
	(void)sd_event_source_set_description(w->dead, "etcd-watch-dead");
	(void)sd_event_source_set_description(w->deliver, "etcd-watch-deliver");
	if (ret)
		*ret = w;
	return 0;
}
