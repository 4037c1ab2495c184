/* SPDX-License-Identifier: MIT */
#pragma once

/* The control protocol (CONTRACT section 5): each request line parsed
 * (serve/request.h), checked against who may do what, and handed to the engine
 * through an ops table with the account looked up once; each answered exactly
 * once, in order, one at a time per connection. Watchers get event lines. */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "basic/secret.h"
#include "conf/config.h"
#include "serve/listener.h"

struct cJSON;
struct control;
struct control_request; /* a request under way: answered exactly once */

struct control_ops {
	const struct principal_list *(*admins)(void *userdata);
	/* The account with this name, and who may read it; NULL if there is none. */
	void *(*lookup)(void *userdata, const char *name,
			const struct principal_list **ret_readers);

	/* Each answers through control_answer*(), now or later. `account` is what lookup returned. */
	void (*token)(void *userdata, struct control_request *req, void *account);
	void (*status)(void *userdata, struct control_request *req, const struct caller *c,
		       bool admin);
	void (*refresh)(void *userdata, struct control_request *req, void *account);
	void (*import)(void *userdata, struct control_request *req, void *account,
		       struct secret *token, bool short_lived); /* takes the token */
	void (*enroll)(void *userdata, struct control_request *req, void *account);
	void (*enroll_finish)(void *userdata, struct control_request *req, void *account,
			      const char *redirect);
	void (*reload)(void *userdata, struct control_request *req);
	void (*metrics)(void *userdata, struct control_request *req, const struct caller *c,
			bool admin);
	void (*revoke)(void *userdata, struct control_request *req, void *account);
	void (*deauthorize)(void *userdata, struct control_request *req, const char *app,
			    const char *signed_request);
};

/* Listens on fd (socket activation) or binds path. -EADDRINUSE if another
 * igtokend answers there. */
int control_new(sd_event *e, int fd, const char *path, const struct control_ops *ops,
		void *userdata, struct control **ret);
struct control *control_free(struct control *c);

/* Whether the caller is an admin (root always is), or may read an account. */
bool control_is_admin(const struct caller *c, const struct principal_list *admins);
bool control_may_read(const struct caller *c, const struct principal_list *admins,
		      const struct principal_list *readers);

/* A new answer object holding "ok": true, to add fields to before control_answer(). */
struct cJSON *control_answer_new(void);
/* Answers (takes the object). Its string values are wiped before they are freed. */
void control_answer(struct control_request *req, struct cJSON *answer);
/* An error answer: `error` is a negative errno (basic/proto.h says which code it becomes). */
void control_answer_error(struct control_request *req, int error, const char *message);
/* An answer already serialized (one JSON object, no newline): the token hot path. */
void control_answer_raw(struct control_request *req, const char *json, size_t len);

/* An answer too big to hold at once (status of 100 000 accounts), written in
 * pieces as the client reads, from the event loop, a piece per iteration. */
struct control_stream_ops {
	/* The next piece of the answer's line (no newline), malloc'd, into *ret:
	 * 1 more to come, 0 it was the last, < 0 failed (the connection is closed:
	 * half a line cannot carry an error). */
	int (*next)(void *state, char **ret, size_t *ret_len);
	void (*free)(void *state);
};
/* Takes state (ops->free'd when the answer is done or the client gone). */
void control_answer_stream(struct control_request *req, const struct control_stream_ops *ops,
			   void *state);
const struct caller *control_request_caller(const struct control_request *req);

/* Sends an event line (one JSON object) to every watcher allowed to read the account. */
void control_broadcast(struct control *c, const char *account, const char *json, size_t len);
