/* SPDX-License-Identifier: MIT */
#pragma once

/* The control socket (CONTRACT section 5): single-line JSON requests and
 * answers, callers identified by SO_PEERCRED/SO_PEERGROUPS, and who may do
 * what. Hostile clients cost themselves: line limits, per-uid caps (the oldest
 * idle connection gives way), idle timeouts, bounded output. Commands reach the
 * manager through an ops table. */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "conf/config.h"
#include "basic/proto.h"
#include "basic/secret.h"

#define CONTROL_GROUPS_MAX 256
#define CONTROL_CONN_MAX 4096	/* connections in all */
#define CONTROL_PER_UID_MAX 128 /* connections per uid; the oldest idle one gives way */
#define CONTROL_IDLE_SEC 60	/* a connection without a complete request is closed */
#define CONTROL_OUTPUT_MAX (256u * 1024 * 1024) /* unsent bytes (a lagging watcher is dropped) */

struct control_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[CONTROL_GROUPS_MAX]; /* primary and supplementary */
	size_t n_groups;
};

struct cJSON;
struct control;
struct control_request;

struct control_ops {
	const struct principal_list *(*admins)(void *ud);
	/* NULL if there is no such account */
	const struct principal_list *(*readers)(void *ud, const char *account);

	/* Each command answers through control_answer*() exactly once, now or later. */
	void (*token)(void *ud, struct control_request *req, const char *account);
	void (*status)(void *ud, struct control_request *req, const struct control_caller *c, bool admin);
	void (*refresh)(void *ud, struct control_request *req, const char *account);
	void (*import)(void *ud, struct control_request *req, const char *account,
		       struct secret *token, bool short_lived); /* takes the token */
	void (*enroll)(void *ud, struct control_request *req, const char *account);
	void (*enroll_finish)(void *ud, struct control_request *req, const char *account,
			      const char *redirect);
	void (*reload)(void *ud, struct control_request *req);
	void (*metrics)(void *ud, struct control_request *req);
	/* The client left while its request was under way: forget req. */
	void (*cancel)(void *ud, struct control_request *req);
};

/* Listens on fd (socket activation) or binds path. -EADDRINUSE if another
 * igtokend answers there. */
int control_new(sd_event *e, int fd, const char *path, const struct control_ops *ops, void *ud,
		struct control **ret);
struct control *control_free(struct control *c);

/* Whether the caller is an admin (root always is), or may read an account. */
bool control_is_admin(const struct control_caller *c, const struct principal_list *admins);
bool control_may_read(const struct control_caller *c, const struct principal_list *admins,
		      const struct principal_list *readers);

/* Answers (takes the object; adds "ok":true). */
void control_answer(struct control_request *req, struct cJSON *answer);
void control_answer_error(struct control_request *req, enum proto_error e, const char *message);
/* An answer already serialized (one JSON object, no newline): the token hot path. */
void control_answer_raw(struct control_request *req, const char *json, size_t len);
const struct control_caller *control_request_caller(const struct control_request *req);

/* Sends an event line to every watcher allowed to read the account. */
void control_broadcast(struct control *c, const char *account, struct cJSON *event);

/* A new answer object holding "ok": true, to add fields to before control_answer(). */
struct cJSON *control_answer_new(void);
