/* SPDX-License-Identifier: MIT */
#include "serve/control.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/proto.h"
#include "basic/util.h"
#include "serve/request.h"

struct control {
	sd_event *event;
	struct listener *listener;
	const struct control_ops *ops;
	void *userdata;
	struct control_stream *streams; /* answers being written in pieces */
};

struct control_request {
	struct control *ctl;
	struct conn *conn; /* a reference: the request may outlive the connection */
};

struct control_stream {
	struct control_stream *prev, *next;
	struct control_request *req;
	const struct control_stream_ops *ops;
	void *state;
	sd_event_source *step;
};

/* ---- who may do what ---- */

bool control_is_admin(const struct caller *c, const struct principal_list *admins)
{
	if (c->uid == 0)
		return true;
	return admins && principal_list_match(admins, c->uid, c->groups, c->n_groups);
}

bool control_may_read(const struct caller *c, const struct principal_list *admins,
		      const struct principal_list *readers)
{
	if (!readers)
		return false;
	return control_is_admin(c, admins) ||
	       principal_list_match(readers, c->uid, c->groups, c->n_groups);
}

/* ---- answers ---- */

cJSON *control_answer_new(void)
{
	cJSON *j = cJSON_CreateObject();

	if (j)
		cJSON_AddTrueToObject(j, "ok");
	return j;
}

static cJSON *error_json(int error, const char *message)
{
	enum proto_error e = proto_error_from_errno(error);
	cJSON *j = cJSON_CreateObject();

	if (!j)
		return NULL;
	cJSON_AddFalseToObject(j, "ok");
	cJSON_AddStringToObject(j, "error", proto_error_name(e));
	cJSON_AddStringToObject(j, "message", message ?: proto_error_name(e));
	/* a message may quote Meta or the client: no control characters reach a terminal */
	string_scrub_controls(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message")));
	return j;
}

/* Queues one JSON object as a line (wiped after: it may hold a token). */
static void send_json(struct conn *c, cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	if (!s) {
		static const char oom[] =
			"{\"ok\":false,\"error\":\"internal\",\"message\":\"out of memory\"}";
		(void)conn_send(c, oom, sizeof(oom) - 1);
		return;
	}
	(void)conn_send(c, s, strlen(s));
	explicit_bzero(s, strlen(s));
	cJSON_free(s);
}

/* The request is answered: the connection's next one may come. */
static void release(struct control_request *req)
{
	conn_resume(req->conn); /* the next request of this connection, later */
	conn_unref(req->conn);
	free(req);
}

static void finish(struct control_request *req, cJSON *answer, const char *raw, size_t len)
{
	if (raw)
		(void)conn_send(req->conn, raw, len);
	else
		send_json(req->conn, answer);
	release(req);
}

void control_answer(struct control_request *req, cJSON *answer)
{
	finish(req, answer, NULL, 0);
}

void control_answer_error(struct control_request *req, int error, const char *message)
{
	finish(req, error_json(error, message), NULL, 0);
}

void control_answer_raw(struct control_request *req, const char *json, size_t len)
{
	finish(req, NULL, json, len);
}

/* ---- answers in pieces ---- */

#define STREAM_PIECES_PER_STEP 4

static void stream_free(struct control_stream *st)
{
	struct control *ctl = st->req->ctl;

	if (st->prev)
		st->prev->next = st->next;
	else
		ctl->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	sd_event_source_disable_unref(st->step);
	st->ops->free(st->state);
	free(st);
}

static void stream_drained(void *userdata)
{
	struct control_stream *st = userdata;

	/* never from inside the write that drained it: from the loop, next */
	(void)sd_event_source_set_enabled(st->step, SD_EVENT_ONESHOT);
}

/* A few pieces, then back to the loop: other clients are served between them. */
static int stream_step(sd_event_source *s, void *userdata)
{
	struct control_stream *st = userdata;
	struct control_request *req = st->req;
	struct conn *c = req->conn;
	(void)s;

	for (int i = 0; i < STREAM_PIECES_PER_STEP && conn_is_open(c); i++) {
		char *piece = NULL;
		size_t len = 0;
		int r = st->ops->next(st->state, &piece, &len);

		if (r < 0) {
			log_warning_errno(r,
					  "control: cannot write a status answer (%m): closing the "
					  "connection");
			conn_close(c);
			break;
		}
		(void)conn_write(c, piece, len, r == 0);
		free(piece);
		if (r == 0) {
			stream_free(st);
			release(req);
			return 0;
		}
		if (conn_unsent(c) >= CONN_DRAIN_LOW) {
			conn_notify_drain(c, stream_drained, st); /* once the client has read */
			return 0;
		}
	}
	if (!conn_is_open(c)) { /* the client left: nothing more to write */
		stream_free(st);
		release(req);
		return 0;
	}
	return sd_event_source_set_enabled(st->step, SD_EVENT_ONESHOT);
}

void control_answer_stream(struct control_request *req, const struct control_stream_ops *ops,
			   void *state)
{
	struct control *ctl = req->ctl;
	struct control_stream *st = calloc(1, sizeof(*st));

	if (!st || sd_event_add_defer(ctl->event, &st->step, stream_step, st) < 0) {
		free(st);
		ops->free(state);
		control_answer_error(req, -ENOMEM, "out of memory");
		return;
	}
	(void)sd_event_source_set_description(st->step, "control-stream");
	*st = (struct control_stream){
		.next = ctl->streams, .req = req, .ops = ops, .state = state, .step = st->step
	};
	if (ctl->streams)
		ctl->streams->prev = st;
	ctl->streams = st;
}

const struct caller *control_request_caller(const struct control_request *req)
{
	return conn_caller(req->conn);
}

/* ---- requests ---- */

/* Admins everything; readers of an account its token; anyone status, metrics and
 * watch (filtered). Returns the error to answer, or 0 with the account looked up. */
static int authorize(struct control *ctl, const struct caller *caller, const struct request *p,
		     bool admin, void **ret_account, char *why, size_t why_len)
{
	const struct principal_list *admins = ctl->ops->admins(ctl->userdata), *readers = NULL;
	const char *admins_only = "is not an admin (the config's 'admins:' says who is)";

	*ret_account = NULL;
	if (!p->has_account) {
		if (p->admin_only && !admin) {
			snprintf(why, why_len, "this command is for admins: uid %u %s",
				 (unsigned)caller->uid, admins_only);
			return -EACCES;
		}
		return 0;
	}
	*ret_account = ctl->ops->lookup(ctl->userdata, p->account, &readers);
	if (admin && !*ret_account) {
		snprintf(why, why_len, "no account '%s' in the configuration", p->account);
		return -ENOENT;
	}
	/* To others, an account they may not read and one that does not exist look the same. */
	if (!admin && p->admin_only) {
		snprintf(why, why_len, "this command is for admins: uid %u %s",
			 (unsigned)caller->uid, admins_only);
		return -EACCES;
	}
	if (!admin && !control_may_read(caller, admins, readers)) {
		snprintf(why, why_len,
			 "uid %u may not read account '%s' (it is not among its readers, or there "
			 "is no such account)",
			 (unsigned)caller->uid, p->account);
		return -EACCES;
	}
	return 0;
}

static void dispatch(struct control *ctl, struct control_request *req, struct request *p,
		     void *account, bool admin)
{
	const struct control_ops *ops = ctl->ops;
	void *ud = ctl->userdata;

	switch (p->cmd) {
	case CMD_TOKEN: ops->token(ud, req, account); break;
	case CMD_STATUS: ops->status(ud, req, control_request_caller(req), admin); break;
	case CMD_METRICS: ops->metrics(ud, req, control_request_caller(req), admin); break;
	case CMD_RELOAD: ops->reload(ud, req); break;
	case CMD_REFRESH: ops->refresh(ud, req, account); break;
	case CMD_ENROLL: ops->enroll(ud, req, account); break;
	case CMD_IMPORT: ops->import(ud, req, account, TAKE_PTR(p->token), p->short_lived); break;
	case CMD_ENROLL_FINISH: ops->enroll_finish(ud, req, account, p->redirect); break;
	case CMD_REVOKE: ops->revoke(ud, req, account); break;
	case CMD_DEAUTHORIZE: ops->deauthorize(ud, req, p->app, p->signed_request); break;
	default: control_answer_error(req, -EOPNOTSUPP, "unknown command"); break;
	}
}

static void on_line(void *userdata, struct conn *c, char *line, size_t n)
{
	struct control *ctl = userdata;
	const struct caller *caller = conn_caller(c);
	struct control_request *req;
	struct request p = { 0 };
	const char *msg = NULL;
	char why[256];
	void *account;
	bool admin;
	int r;

	r = request_parse(line, n, &p, &msg);
	if (r < 0) {
		send_json(c, error_json(r, msg));
		return;
	}
	admin = control_is_admin(caller, ctl->ops->admins(ctl->userdata));
	r = authorize(ctl, caller, &p, admin, &account, why, sizeof(why));
	if (r < 0) {
		send_json(c, error_json(r, why));
	} else if (p.cmd == CMD_WATCH) {
		conn_set_watcher(c);
		send_json(c, control_answer_new());
	} else if (!(req = calloc(1, sizeof(*req)))) {
		send_json(c, error_json(-ENOMEM, "out of memory"));
	} else {
		req->ctl = ctl;
		req->conn = conn_ref(c);
		conn_hold(c); /* one request at a time: the next waits for this answer */
		dispatch(ctl, req, &p, account, admin);
	}
	request_clear(&p);
}

static void on_closed(void *userdata, struct conn *c)
{
	/* A request under way keeps its reference: its answer goes nowhere. */
	(void)userdata;
	(void)c;
}

static const struct listener_ops listener_ops = { .line = on_line, .closed = on_closed };

int control_new(sd_event *e, int fd, const char *path, const struct control_ops *ops,
		void *userdata, struct control **ret)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int r;

	if (!ctl)
		return -ENOMEM;
	ctl->ops = ops;
	ctl->userdata = userdata;
	r = listener_new(e, fd, path, &listener_ops, ctl, &ctl->listener);
	if (r < 0) {
		free(ctl);
		return r;
	}
	ctl->event = sd_event_ref(e);
	*ret = ctl;
	return 0;
}

struct control *control_free(struct control *ctl)
{
	if (!ctl)
		return NULL;
	listener_free(ctl->listener);
	while (ctl->streams) { /* their connections are closed: they end here */
		struct control_request *req = ctl->streams->req;
		stream_free(ctl->streams);
		release(req);
	}
	sd_event_unref(ctl->event);
	free(ctl);
	return NULL;
}

struct broadcast {
	struct control *ctl;
	const struct principal_list *admins, *readers;
	const char *json;
	size_t len;
};

static void send_event(struct conn *c, void *userdata)
{
	struct broadcast *b = userdata;

	if (!conn_is_watcher(c) || !control_may_read(conn_caller(c), b->admins, b->readers))
		return;
	if (conn_send(c, b->json, b->len) == -ENOBUFS)
		log_warning("control: dropped a watcher of uid %u that does not keep up",
			    (unsigned)conn_caller(c)->uid);
}

void control_broadcast(struct control *ctl, const char *account, const char *json, size_t len)
{
	struct broadcast b = { .ctl = ctl, .json = json, .len = len };

	b.admins = ctl->ops->admins(ctl->userdata);
	if (!ctl->ops->lookup(ctl->userdata, account, &b.readers))
		return;
	listener_foreach(ctl->listener, send_event, &b);
}
