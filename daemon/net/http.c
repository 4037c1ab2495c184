/* SPDX-License-Identifier: MIT */
#include "net/http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/log.h"
#include "basic/wipe-alloc.h"
#include "basic/util.h"

#define SYSTEM_CA_PATH "/etc/ssl/certs"

struct http_client {
	sd_event *event;
	CURLM *multi;
	sd_event_source *timer;
	char *name;
	char *ca_file, *cert_file, *key_file;
	bool plain_http;
	size_t body_max;
	int64_t timeout_sec;
	struct http_request *requests; /* list of those under way */
	unsigned in_flight;
};

struct http_request {
	struct http_client *client;
	struct http_request *prev, *next;
	CURL *easy;
	struct secret *url, *form;
	struct curl_slist *headers; /* a JSON POST's */
	http_line_t on_line;	    /* a stream's */
	http_callback_t cb;
	void *userdata;
	struct secret *body; /* HTTP_BODY_MAX + 1, guarded: it may hold a token */
	size_t body_len;
	bool too_large;
	char *app_usage, *buc_usage, *retry_after;
	int64_t sent_at;
	char errbuf[CURL_ERROR_SIZE];
};

int http_global_init(void)
{
	/* libcurl's allocations are wiped on free: they hold URLs with tokens */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipe_malloc, wipe_free, wipe_realloc,
				 wipe_strdup, wipe_calloc) != CURLE_OK)
		return -EIO;
	return 0;
}

void http_global_done(void)
{
	curl_global_cleanup();
}

/* ---- requests ---- */

static void request_free(struct http_request *r)
{
	struct http_client *c = r->client;

	if (r->easy) {
		curl_multi_remove_handle(c->multi, r->easy);
		curl_easy_cleanup(r->easy);
		c->in_flight--;
	}
	if (r->prev)
		r->prev->next = r->next;
	else
		c->requests = r->next;
	if (r->next)
		r->next->prev = r->prev;
	curl_slist_free_all(r->headers);
	secret_free(r->url);
	secret_free(r->form);
	secret_free(r->body);
	free(r->app_usage);
	free(r->buc_usage);
	free(r->retry_after);
	free(r);
}

void http_request_cancel(struct http_request *r)
{
	if (r)
		request_free(r);
}

/* A stream's complete lines go out; what follows the last one stays. */
static void split_lines(struct http_request *r)
{
	size_t start = 0;

	for (size_t i = 0; i < r->body_len; i++)
		if (r->body->data[i] == '\n') {
			r->body->data[i] = '\0';
			r->on_line(r->body->data + start, i - start, r->userdata);
			start = i + 1;
		}
	memmove(r->body->data, r->body->data + start, r->body_len - start);
	r->body_len -= start;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct http_request *r = userdata;
	size_t len = size * n, max = r->client->body_max;

	if (len > max - r->body_len) {
		r->too_large = true;
		return 0; /* aborts the transfer */
	}
	if (r->body_len + len + 1 > r->body->len) {
		/* grow in guarded memory: answers are small, the cap is not */
		struct secret *nb = NULL;
		size_t ns = r->body->len;
		while (ns < r->body_len + len + 1)
			ns *= 4;
		if (secret_new(MIN(ns, max + 1), &nb) < 0)
			return 0;
		memcpy(nb->data, r->body->data, r->body_len);
		secret_free(r->body);
		r->body = nb;
	}
	memcpy(r->body->data + r->body_len, data, len);
	r->body_len += len;
	if (r->on_line)
		split_lines(r);
	return len;
}

static void capture(char **field, const char *v, size_t n)
{
	while (n > 0 &&
	       (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	if (n > HTTP_HEADER_MAX)
		return; /* hostile: ignored, reads as "unknown" */
	free(*field);
	*field = strndup(v, n);
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
	static const struct {
		const char *name;
		size_t off;
	} wanted[] = {
		{ "x-app-usage:", offsetof(struct http_request, app_usage) },
		{ "x-business-use-case-usage:", offsetof(struct http_request, buc_usage) },
		{ "retry-after:", offsetof(struct http_request, retry_after) },
	};
	struct http_request *r = userdata;
	size_t len = size * n;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* a new response (after 100-continue): forget headers of the last one */
		for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
			char **f = (char **)((char *)r + wanted[i].off);
			free(*f);
			*f = NULL;
		}
		return len;
	}
	for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
		size_t k = strlen(wanted[i].name);
		if (len >= k && strncasecmp(data, wanted[i].name, k) == 0)
			capture((char **)((char *)r + wanted[i].off), data + k, len - k);
	}
	return len;
}

static int curl_error_to_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR: return -EPROTO;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE: return -ECONNRESET;
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_WRITE_ERROR: return -EMSGSIZE;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	default: return -EIO;
	}
}

static void finish(struct http_request *r, CURLcode code)
{
	struct http_response resp = {
		.body = r->body->data,
		.body_len = r->body_len,
		.app_usage = r->app_usage,
		.buc_usage = r->buc_usage,
		.retry_after = r->retry_after,
		.sent_at = r->sent_at,
	};

	r->body->data[r->body_len] = '\0';
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
	if (r->too_large) {
		resp.error = -EMSGSIZE;
		resp.error_text = "answer larger than the limit";
	} else if (code != CURLE_OK) {
		resp.error = curl_error_to_errno(code);
		resp.error_text = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
	}
	/* The URL (a secret) is never part of what we log; libcurl's error text
	 * names hosts at most. */
	r->cb(&resp, r->userdata);
	request_free(r);
}

static void check_finished(struct http_client *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct http_request *r = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r) != CURLE_OK ||
		    !r)
			continue;
		finish(r, m->data.result);
	}
}

/* ---- sd-event glue ---- */

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct http_client *c = userdata;
	int action = 0, running;
	(void)s;

	if (revents & (EPOLLIN | EPOLLHUP))
		action |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		action |= CURL_CSELECT_OUT;
	if (revents & EPOLLERR)
		action |= CURL_CSELECT_ERR;
	if (curl_multi_socket_action(c->multi, fd, action, &running) != CURLM_OK)
		log_debug("http %s: socket action failed", c->name);
	check_finished(c);
	return 0;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	sd_event_source *s = socketp;
	uint32_t events = 0;
	int r;
	(void)easy;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sd_event_source_disable_unref(s);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= EPOLLOUT;
	if (s) {
		r = sd_event_source_set_io_events(s, events);
		if (r >= 0)
			r = sd_event_source_set_enabled(s, SD_EVENT_ON);
		return r < 0 ? -1 : 0;
	}
	r = sd_event_add_io(c->event, &s, fd, events, on_io, c);
	if (r < 0)
		return -1;
	(void)sd_event_source_set_description(s, "http-socket");
	curl_multi_assign(c->multi, fd, s);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct http_client *c = userdata;
	int running;
	(void)s;
	(void)usec;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_finished(c);
	return 0;
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	uint64_t usec;
	int r;
	(void)multi;

	if (timeout_ms < 0)
		return c->timer ? (sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0)
				: 0;
	usec = (uint64_t)timeout_ms * USEC_PER_MSEC;
	if (c->timer) {
		r = sd_event_source_set_time_relative(c->timer, usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
		return r < 0 ? -1 : 0;
	}
	r = sd_event_add_time_relative(c->event, &c->timer, CLOCK_BOOTTIME, usec, USEC_PER_MSEC,
				       on_timer, c);
	if (r < 0)
		return -1;
	(void)sd_event_source_set_description(c->timer, "http-timer");
	return 0;
}

int http_client_new(sd_event *e, const struct http_client_options *o, struct http_client **ret)
{
	struct http_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->event = sd_event_ref(e);
	c->timeout_sec = o->timeout_sec;
	c->name = strdup(o->name ?: "http");
	c->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	c->cert_file = o->cert_file ? strdup(o->cert_file) : NULL;
	c->key_file = o->key_file ? strdup(o->key_file) : NULL;
	c->plain_http = o->plain_http;
	c->body_max = o->body_max ?: HTTP_BODY_MAX;
	c->multi = curl_multi_init();
	if (!c->name || (o->ca_file && !c->ca_file) || (o->cert_file && !c->cert_file) ||
	    (o->key_file && !c->key_file) || !c->multi) {
		http_client_free(c);
		return -ENOMEM;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)MAX(o->max_connections, 1u));
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	*ret = c;
	return 0;
}

struct http_client *http_client_free(struct http_client *c)
{
	if (!c)
		return NULL;
	while (c->requests)
		request_free(c->requests);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	sd_event_source_disable_unref(c->timer);
	sd_event_unref(c->event);
	free(c->name);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c);
	return NULL;
}

static int setup_easy(struct http_client *c, struct http_request *r)
{
	CURL *e = r->easy;
	struct stat st;
	long t = (long)c->timeout_sec;
	const char *protocols = c->plain_http ? "http,https" : "https";

	if (curl_easy_setopt(e, CURLOPT_URL, r->url->data) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK)
		return -EINVAL;
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file) {
		/* the configured anchor, plus the system store looked up by hash */
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
		if (stat(SYSTEM_CA_PATH, &st) == 0 && S_ISDIR(st.st_mode))
			curl_easy_setopt(e, CURLOPT_CAPATH, SYSTEM_CA_PATH);
	}
	if (c->cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file ?: c->cert_file);
	}
	curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 86400L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, t);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, r->on_line ? 0L : t); /* a stream lasts */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "igtokend/" IGTOKEND_VERSION);
	if (!r->on_line)
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->body_max);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	if (r->form) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->form->len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->form->data);
	}
	if (r->headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	return 0;
}

static int submit(struct http_client *c, const struct secret *url, const struct secret *form,
		  bool json, const struct secret *header, http_line_t on_line, http_callback_t cb,
		  void *userdata, struct http_request **ret)
{
	struct http_request *r = calloc(1, sizeof(*r));
	int k;

	if (!r)
		return -ENOMEM;
	r->client = c;
	r->cb = cb;
	r->on_line = on_line;
	r->userdata = userdata;
	r->next = c->requests;
	if (c->requests)
		c->requests->prev = r;
	c->requests = r;
	if ((k = secret_from_mem(url->data, url->len, &r->url)) < 0 ||
	    (form && (k = secret_from_mem(form->data, form->len, &r->form)) < 0) ||
	    (k = secret_new(HTTP_BODY_INITIAL, &r->body)) < 0) {
		request_free(r);
		return k;
	}
	if (json) {
		/* libcurl copies them (its memory is wiped on free) */
		r->headers = curl_slist_append(NULL, "Content-Type: application/json");
		if (!r->headers || (header && !curl_slist_append(r->headers, header->data))) {
			request_free(r);
			return -ENOMEM;
		}
	}
	r->easy = curl_easy_init();
	if (!r->easy) {
		request_free(r);
		return -ENOMEM;
	}
	c->in_flight++;
	k = setup_easy(c, r);
	if (k < 0) {
		request_free(r);
		return k;
	}
	r->sent_at = now_realtime_sec();
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		request_free(r);
		return -EIO;
	}
	if (ret)
		*ret = r;
	return 0;
}

int http_get(struct http_client *c, const struct secret *url, http_callback_t cb, void *userdata,
	     struct http_request **ret)
{
	return submit(c, url, NULL, false, NULL, NULL, cb, userdata, ret);
}

int http_post_form(struct http_client *c, const struct secret *url, const struct secret *form,
		   http_callback_t cb, void *userdata, struct http_request **ret)
{
	return submit(c, url, form, false, NULL, NULL, cb, userdata, ret);
}

int http_post_json(struct http_client *c, const struct secret *url, const struct secret *header,
		   const struct secret *body, http_line_t on_line, http_callback_t cb,
		   void *userdata, struct http_request **ret)
{
	return submit(c, url, body, true, header, on_line, cb, userdata, ret);
}
