/* SPDX-License-Identifier: MIT */
#include "serve/control.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "serve/request.h"
#include "basic/log.h"
#include "basic/util.h"

#define ACCEPT_BURST 64

struct conn {
	struct control *ctl;
	struct conn *prev, *next; /* oldest first */
	int fd;
	sd_event_source *io, *idle;
	struct control_caller caller;
	char *in; /* PROTO_LINE_MAX + 1, wiped: an import carries a token */
	size_t in_len;
	char *out; /* wiped: token answers */
	size_t out_len, out_off, out_size;
	struct control_request *pending;
	bool watcher, closing;
	bool *alive; /* cleared when freed, for callers further up the stack */
	bool in_pump;
	uint64_t last_active; /* CLOCK_BOOTTIME usec of the last complete request */
};

struct control_request {
	struct conn *conn;
};

struct control {
	sd_event *event;
	int fd;
	sd_event_source *listen;
	char *bound_path; /* unlinked at exit if we bound it */
	const struct control_ops *ops;
	void *ud;
	struct conn *head, *tail;
	unsigned n_conns;
};

/* ---- who may do what ---- */

bool control_is_admin(const struct control_caller *c, const struct principal_list *admins)
{
	if (c->uid == 0)
		return true;
	return admins && principal_list_match(admins, c->uid, c->groups, c->n_groups);
}

bool control_may_read(const struct control_caller *c, const struct principal_list *admins,
		      const struct principal_list *readers)
{
	if (!readers)
		return false;
	return control_is_admin(c, admins) || principal_list_match(readers, c->uid, c->groups, c->n_groups);
}

/* ---- connections ---- */

static void conn_free(struct conn *cn)
{
	struct control *ctl = cn->ctl;

	if (cn->alive)
		*cn->alive = false;
	if (cn->pending) {
		struct control_request *req = cn->pending;
		cn->pending = NULL;
		ctl->ops->cancel(ctl->ud, req);
		free(req);
	}
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		ctl->head = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	else
		ctl->tail = cn->prev;
	ctl->n_conns--;
	sd_event_source_disable_unref(cn->io);
	sd_event_source_disable_unref(cn->idle);
	if (cn->fd >= 0)
		close(cn->fd);
	if (cn->in)
		explicit_bzero(cn->in, PROTO_LINE_MAX + 1);
	free(cn->in);
	if (cn->out)
		explicit_bzero(cn->out, cn->out_size);
	free(cn->out);
	free(cn);
}

/* The connection is busy now: the idle timer looks at this when it fires, so a
 * request costs no timer or epoll change. */
static void touch(struct conn *cn)
{
	(void)sd_event_now(cn->ctl->event, CLOCK_BOOTTIME, &cn->last_active);
}

/* Writes what it can; closes the connection once a closing one is flushed. Returns false if freed. */
static bool flush(struct conn *cn)
{
	while (cn->out_off < cn->out_len) {
		ssize_t k = send(cn->fd, cn->out + cn->out_off, cn->out_len - cn->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_free(cn); /* the client is gone */
			return false;
		}
		explicit_bzero(cn->out + cn->out_off, (size_t)k);
		cn->out_off += (size_t)k;
	}
	if (cn->out_off == cn->out_len)
		cn->out_off = cn->out_len = 0;
	if (cn->closing && cn->out_len == 0) {
		conn_free(cn);
		return false;
	}
	return true; /* anything left goes out on the next EPOLLOUT edge */
}

static int queue_out(struct conn *cn, const char *s, size_t n)
{
	size_t need = cn->out_len + n + 1;

	if (need - cn->out_off > CONTROL_OUTPUT_MAX)
		return -ENOBUFS;
	if (need > cn->out_size) {
		size_t ns = MAX(need, cn->out_size * 2);
		char *nb = malloc(ns);
		if (!nb)
			return -ENOMEM;
		if (cn->out) {
			memcpy(nb, cn->out + cn->out_off, cn->out_len - cn->out_off);
			explicit_bzero(cn->out, cn->out_size);
			free(cn->out);
		}
		cn->out_len -= cn->out_off;
		cn->out_off = 0;
		cn->out = nb;
		cn->out_size = ns;
	}
	memcpy(cn->out + cn->out_len, s, n);
	cn->out[cn->out_len + n] = '\n';
	cn->out_len += n + 1;
	return 0;
}

/* Queues one JSON line; false if the connection had to go. */
static bool send_json(struct conn *cn, cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	int r = s ? queue_out(cn, s, strlen(s)) : -ENOMEM;

	if (s) {
		explicit_bzero(s, strlen(s));
		cJSON_free(s);
	}
	cJSON_Delete(j);
	if (r < 0) {
		conn_free(cn);
		return false;
	}
	return true;
}

cJSON *control_answer_new(void)
{
	cJSON *j = cJSON_CreateObject();
	if (j)
		cJSON_AddTrueToObject(j, "ok");
	return j;
}

static cJSON *error_json(enum proto_error e, const char *message)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	cJSON_AddFalseToObject(j, "ok");
	cJSON_AddStringToObject(j, "error", proto_error_name(e));
	cJSON_AddStringToObject(j, "message", message ?: proto_error_name(e));
	return j;
}

static void process_input(struct conn *cn);
static void pump(struct conn *cn);

static void finish_request(struct control_request *req, cJSON *answer, const char *raw, size_t len)
{
	struct conn *cn = req->conn;

	cn->pending = NULL;
	free(req);
	if (raw) {
		if (queue_out(cn, raw, len) < 0) {
			conn_free(cn);
			return;
		}
	} else if (!send_json(cn, answer))
		return;
	touch(cn);
	if (!flush(cn))
		return;
	if (!cn->in_pump)
		pump(cn); /* requests that arrived meanwhile, buffered or still in the socket */
}

void control_answer(struct control_request *req, cJSON *answer)
{
	finish_request(req, answer, NULL, 0);
}

void control_answer_error(struct control_request *req, enum proto_error e, const char *message)
{
	finish_request(req, error_json(e, message), NULL, 0);
}

void control_answer_raw(struct control_request *req, const char *json, size_t len)
{
	finish_request(req, NULL, json, len);
}

const struct control_caller *control_request_caller(const struct control_request *req)
{
	return &req->conn->caller;
}

/* Answers at once without a request (malformed input); closes if asked. */
static bool reply_error(struct conn *cn, enum proto_error e, const char *message, bool close_after)
{
	if (!send_json(cn, error_json(e, message)))
		return false;
	if (close_after)
		cn->closing = true;
	return flush(cn);
}


/* ---- requests ---- */

/* Who may: admins everything; readers of an account its token; anyone status,
 * metrics and watch (filtered). Returns true if the command may go on;
 * otherwise it has answered. */
static bool authorize(struct conn *cn, const struct control_parsed *p)
{
	struct control *ctl = cn->ctl;
	const struct principal_list *admins = ctl->ops->admins(ctl->ud), *readers;
	bool admin = control_is_admin(&cn->caller, admins);

	if (!p->has_account) {
		if (p->admin_only && !admin)
			return reply_error(cn, PROTO_FORBIDDEN, "this command is for admins", false), false;
		return true;
	}
	readers = ctl->ops->readers(ctl->ud, p->account);
	if (admin && !readers)
		return reply_error(cn, PROTO_UNKNOWN_ACCOUNT, "no such account", false), false;
	/* To others, an account they may not read and one that does not exist look the same. */
	if (!admin && (p->admin_only || !control_may_read(&cn->caller, admins, readers)))
		return reply_error(cn, PROTO_FORBIDDEN, p->admin_only ? "this command is for admins" :
								     "you may not read this account", false),
		       false;
	return true;
}

static struct control_request *begin(struct conn *cn)
{
	struct control_request *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->conn = cn;
	cn->pending = req;
	return req;
}

static void handle(struct conn *cn, struct control_parsed *p)
{
	struct control *ctl = cn->ctl;
	struct control_request *req;
	bool admin = control_is_admin(&cn->caller, ctl->ops->admins(ctl->ud));

	if (!authorize(cn, p))
		return;
	if (p->cmd == CMD_WATCH) {
		cn->watcher = true;
		if (send_json(cn, control_answer_new()))
			flush(cn);
		return;
	}
	if (!(req = begin(cn))) {
		reply_error(cn, PROTO_INTERNAL, "out of memory", false);
		return;
	}
	switch (p->cmd) {
	case CMD_TOKEN: ctl->ops->token(ctl->ud, req, p->account); break;
	case CMD_STATUS: ctl->ops->status(ctl->ud, req, &cn->caller, admin); break;
	case CMD_METRICS: ctl->ops->metrics(ctl->ud, req); break;
	case CMD_RELOAD: ctl->ops->reload(ctl->ud, req); break;
	case CMD_REFRESH: ctl->ops->refresh(ctl->ud, req, p->account); break;
	case CMD_ENROLL: ctl->ops->enroll(ctl->ud, req, p->account); break;
	case CMD_IMPORT:
		ctl->ops->import(ctl->ud, req, p->account, TAKE_PTR(p->token), p->short_lived);
		break;
	case CMD_ENROLL_FINISH:
		ctl->ops->enroll_finish(ctl->ud, req, p->account, p->redirect);
		break;
	default: control_answer_error(req, PROTO_UNKNOWN_COMMAND, "unknown command"); break;
	}
}

/* Handles complete lines while no request is under way. */
static void process_input(struct conn *cn)
{
	while (!cn->pending && !cn->watcher && !cn->closing) {
		char *nl = memchr(cn->in, '\n', cn->in_len);
		bool blank, alive = true, *saved;
		struct control_parsed p = { 0 };
		enum proto_error e;
		const char *msg = NULL;
		size_t n;

		if (!nl) {
			if (cn->in_len > PROTO_LINE_MAX) {
				reply_error(cn, PROTO_BAD_REQUEST, "request longer than 64 KiB", true);
				return;
			}
			return;
		}
		n = (size_t)(nl - cn->in);
		blank = n == 0 || (n == 1 && cn->in[0] == '\r');
		e = blank ? PROTO_OK : control_parse(cn->in, n, &p, &msg);
		explicit_bzero(cn->in, n + 1);
		memmove(cn->in, nl + 1, cn->in_len - n - 1);
		cn->in_len -= n + 1;
		touch(cn);
		if (blank)
			continue; /* blank lines are ignored */
		if (e != PROTO_OK) {
			if (!reply_error(cn, e, msg, n > PROTO_LINE_MAX))
				return;
			continue;
		}
		/* handle() may answer at once, and a failed write frees the connection */
		saved = cn->alive;
		cn->alive = &alive;
		handle(cn, &p);
		control_parsed_clear(&p);
		if (!alive) {
			if (saved)
				*saved = false;
			return;
		}
		cn->alive = saved;
	}
}

/* Reads what the socket holds (edge-triggered: until EAGAIN) while requests can
 * be taken, and handles the complete ones. A request under way stops reading;
 * its answer calls pump() again. */
static void pump(struct conn *cn)
{
	bool alive = true, *saved = cn->alive;

	cn->alive = &alive;
	cn->in_pump = true;
	for (;;) {
		size_t room = PROTO_LINE_MAX + 1 - cn->in_len;
		ssize_t k;

		process_input(cn);
		if (!alive || cn->pending || cn->closing)
			break;
		if (cn->watcher) /* a watcher only talks by hanging up: drop what it sends */
			cn->in_len = 0, room = PROTO_LINE_MAX + 1;
		if (room == 0)
			break;
		k = recv(cn->fd, cn->in + cn->in_len, room, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			break;
		if (k <= 0) {
			conn_free(cn); /* hung up, or broken */
			break;
		}
		cn->in_len += (size_t)k;
	}
	if (alive) {
		cn->in_pump = false;
		cn->alive = saved;
	} else if (saved)
		*saved = false;
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct conn *cn = userdata;
	(void)s;
	(void)fd;

	if ((revents & EPOLLOUT) && !flush(cn))
		return 0;
	if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		pump(cn);
	return 0;
}

static int on_idle(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct conn *cn = userdata;
	uint64_t limit = CONTROL_IDLE_SEC * USEC_PER_SEC;

	if (cn->pending || cn->watcher || usec < cn->last_active + limit) {
		uint64_t base = cn->pending || cn->watcher ? usec : cn->last_active;
		(void)sd_event_source_set_time(s, base + limit);
		(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return 0;
	}
	log_debug("control: closing a connection of uid %u idle for %ds", (unsigned)cn->caller.uid,
		  CONTROL_IDLE_SEC);
	conn_free(cn);
	return 0;
}

static int peer_credentials(int fd, struct control_caller *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	gid_t groups[CONTROL_GROUPS_MAX];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return negative_errno();
	c->uid = uc.uid;
	c->gid = uc.gid;
	c->pid = uc.pid;
	c->groups[0] = uc.gid;
	c->n_groups = 1;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t) && c->n_groups < CONTROL_GROUPS_MAX; i++)
			c->groups[c->n_groups++] = groups[i];
	return 0;
}

/* The oldest connection of this uid (or of anyone) that is merely idle. */
static struct conn *evictable(struct control *ctl, const uid_t *uid)
{
	for (struct conn *cn = ctl->head; cn; cn = cn->next)
		if (!cn->pending && !cn->watcher && (!uid || cn->caller.uid == *uid))
			return cn;
	return NULL;
}

static unsigned count_uid(struct control *ctl, uid_t uid)
{
	unsigned n = 0;
	for (struct conn *cn = ctl->head; cn; cn = cn->next)
		n += cn->caller.uid == uid;
	return n;
}

static void accept_one(struct control *ctl, int fd)
{
	struct conn *cn = calloc(1, sizeof(*cn)), *old;
	int r;

	if (!cn || !(cn->in = malloc(PROTO_LINE_MAX + 1))) {
		if (cn)
			free(cn);
		close(fd);
		return;
	}
	cn->ctl = ctl;
	cn->fd = fd;
	if (peer_credentials(fd, &cn->caller) < 0) {
		free(cn->in);
		free(cn);
		close(fd);
		return;
	}
	/* Floods cost the flooder: its oldest idle connection gives way. */
	if (count_uid(ctl, cn->caller.uid) >= CONTROL_PER_UID_MAX &&
	    (old = evictable(ctl, &cn->caller.uid)))
		conn_free(old);
	if (ctl->n_conns >= CONTROL_CONN_MAX && (old = evictable(ctl, NULL)))
		conn_free(old);
	if (count_uid(ctl, cn->caller.uid) >= CONTROL_PER_UID_MAX || ctl->n_conns >= CONTROL_CONN_MAX) {
		free(cn->in);
		free(cn);
		close(fd);
		return;
	}
	cn->prev = ctl->tail;
	if (ctl->tail)
		ctl->tail->next = cn;
	else
		ctl->head = cn;
	ctl->tail = cn;
	ctl->n_conns++;
	touch(cn);
	/* edge-triggered: no epoll change per request, and busy connections are not
	 * polled again on every dispatch */
	r = sd_event_add_io(ctl->event, &cn->io, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, on_conn_io, cn);
	if (r >= 0)
		r = sd_event_add_time_relative(ctl->event, &cn->idle, CLOCK_BOOTTIME,
					       CONTROL_IDLE_SEC * USEC_PER_SEC, USEC_PER_SEC, on_idle, cn);
	if (r < 0) {
		conn_free(cn);
		return;
	}
	(void)sd_event_source_set_description(cn->io, "control-conn");
	(void)sd_event_source_set_description(cn->idle, "control-idle");
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct control *ctl = userdata;
	(void)s;
	(void)revents;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warning_errno(-errno, "control: accept failed: %m");
			break;
		}
		accept_one(ctl, c);
	}
	return 0;
}

/* ---- the listening socket ---- */

static int bind_socket(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1, probe = -1;
	_cleanup_free_ char *dir = strdup(path);
	char *slash;

	if (!dir)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* the directory: 0755, so that every local user can reach the socket */
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		/* 0755 despite our umask: every local user must reach the socket */
		for (char *p = dir + 1; *p; p++)
			if (*p == '/') {
				*p = '\0';
				if (mkdir(dir, 0755) == 0)
					(void)chmod(dir, 0755);
				*p = '/';
			}
		if (mkdir(dir, 0755) == 0)
			(void)chmod(dir, 0755);
	}
	/* Someone answering there is another igtokend; a file nobody answers on is stale. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return negative_errno();
	if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return -EADDRINUSE;
	if (errno == ECONNREFUSED)
		(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	/* every local user may connect; each request is judged by peer credentials */
	if (chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		int r = negative_errno();
		(void)unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int control_new(sd_event *e, int fd, const char *path, const struct control_ops *ops, void *ud,
		struct control **ret)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int r;

	if (!ctl)
		return -ENOMEM;
	ctl->event = sd_event_ref(e);
	ctl->ops = ops;
	ctl->ud = ud;
	ctl->fd = fd;
	if (fd < 0) {
		r = bind_socket(path, &ctl->fd);
		if (r < 0) {
			control_free(ctl);
			return r;
		}
		ctl->bound_path = strdup(path);
	} else
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	r = sd_event_add_io(e, &ctl->listen, ctl->fd, EPOLLIN, on_listen, ctl);
	if (r < 0) {
		control_free(ctl);
		return r;
	}
	(void)sd_event_source_set_description(ctl->listen, "control-listen");
	*ret = ctl;
	return 0;
}

struct control *control_free(struct control *ctl)
{
	if (!ctl)
		return NULL;
	while (ctl->head)
		conn_free(ctl->head);
	sd_event_source_disable_unref(ctl->listen);
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (ctl->bound_path)
		(void)unlink(ctl->bound_path);
	free(ctl->bound_path);
	sd_event_unref(ctl->event);
	free(ctl);
	return NULL;
}

void control_broadcast(struct control *ctl, const char *account, cJSON *event)
{
	const struct principal_list *admins = ctl->ops->admins(ctl->ud);
	const struct principal_list *readers = ctl->ops->readers(ctl->ud, account);
	char *s = cJSON_PrintUnformatted(event);
	struct conn *cn, *next;

	cJSON_Delete(event);
	if (!s)
		return;
	for (cn = ctl->head; cn; cn = next) {
		next = cn->next;
		if (!cn->watcher || !control_may_read(&cn->caller, admins, readers))
			continue;
		if (queue_out(cn, s, strlen(s)) < 0) {
			log_warning("control: dropping a watcher of uid %u that does not keep up",
				    (unsigned)cn->caller.uid);
			conn_free(cn);
			continue;
		}
		(void)flush(cn);
	}
	cJSON_free(s);
}

