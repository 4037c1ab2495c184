/* SPDX-License-Identifier: MIT */
#include "engine/operation.h"

#include <stdio.h>
#include <time.h>

#include "basic/log.h"
#include "basic/util.h"
#include "engine/account-record.h"
#include "engine/token-write.h"
#include "engine/steps.h"

struct waiter {
	op_done_t done;
	void *userdata;
	struct waiter *next;
};

struct op {
	struct app_request slot; /* its turn in the app's queue */
	struct account *account;
	struct op_state st;
	bool started;
	struct http_request *req; /* under way */
	bool storing;		  /* its new token is being written (account_store_token) */
	bool intent;		  /* cluster mode: a refresh whose intent is asked for or written */
	bool reserved; /* its turn in the app's queue is kept while the intent is asked */
	bool asked;    /* a request went to Meta and has not been answered */
	struct waiter *waiters;
	struct op *next;
};

static void free_waiters(struct waiter *w)
{
	while (w) {
		struct waiter *next = w->next;
		free(w);
		w = next;
	}
}

static void op_free(struct op *op)
{
	struct app *app = op->account->app;

	free_waiters(op->waiters);
	if (op->storing)
		account_store_forget(op->account);
	/* an intent stays while Meta may have answered (CLUSTER.md), else it goes */
	if (op->intent && !op->asked && op->account->ctx->cluster)
		op->account->ctx->cluster->intent_cancel(op->account->ctx->cluster->userdata,
							 op->account);
	app_dequeue(app, &op->slot);
	if (op->reserved)
		app_release(app);
	if (op->req)
		app_cancel(app, TAKE_PTR(op->req));
	op_state_clear(&op->st);
	free(op);
}

static void start(struct account *a);

/* Ends the running operation: whoever waits hears `error`, then the next one starts. */
static void finish(struct account *a, int error, const char *message)
{
	struct op *op = a->ops;
	struct waiter *w;
	char why[GRAPH_WHY_MAX];

	if (!op)
		return;
	snprintf(why, sizeof(why), "%s", message ?: "");
	a->ops = op->next;
	w = TAKE_PTR(op->waiters);
	op_free(op);
	a->activity = ACTIVITY_IDLE;
	account_changed(a); /* settle the state first: the answers report it */
	for (struct waiter *i = w; i; i = i->next)
		i->done(a, error, message ? why : NULL, i->userdata);
	free_waiters(w);
	start(a);
}

/* ---- a turn in the app's queue ---- */

static void wait_turn(struct account *a, struct op *op)
{
	unsigned flags = steps_flags(op->st.step);

	op->slot.carries_credentials = flags & (GRAPH_CLIENT_SECRET | GRAPH_APP_TOKEN);
	a->activity = steps_is_check(&op->st) ? ACTIVITY_CHECKING : ACTIVITY_WAITING;
	account_changed(a);
	app_enqueue(a->app, &op->slot); /* may go out at once */
}

static void on_answer(const struct http_response *r, void *userdata);

/* Cluster mode: whether this host may call Meta for the operation (an import
 * or an enrolment goes from whichever host an admin asked; op NULL: a
 * refresh). now: right before a request, with the lease's margin; else
 * whether the app is this host's at all. why: if not, for people. */
static bool may_call(struct account *a, const struct op *op, bool now, char *why, size_t len)
{
	const struct engine_cluster *c = a->ctx->cluster;

	if (!c || (op && op->st.kind != OP_REFRESH && op->st.kind != OP_CHECK))
		return true;
	if (now ? c->may_call(c->userdata, a, why, len) : c->owns(c->userdata, a))
		return true;
	if (!now && why)
		(void)c->may_call(c->userdata, a, why, len);
	return false;
}

/* The current step's request goes to Meta (its turn in the app's queue is taken). */
static int send_now(struct account *a, struct op *op)
{
	_cleanup_secret_ struct secret *url = NULL, *form = NULL;
	char why[192];
	int k;

	if (!may_call(a, op, true, why, sizeof(why))) {
		/* the lease may lapse before Meta answers: nothing goes out; the
		 * schedule tries again in a second */
		log_account(LOG_INFO, a->name, a->app->name, NULL, "not sent: %s", why);
		a->cluster_wait_until = a->ctx->now() + 1;
		finish(a, -EREMOTEIO, why);
		return -EREMOTEIO;
	}
	k = steps_request(a, &op->st, &url, &form);
	if (k >= 0)
		k = app_submit(a->app, url, form, on_answer, op, &op->req);
	if (k < 0) {
		errno = -k;
		snprintf(why, sizeof(why), "cannot send the request: %m");
		log_account_errno(LOG_ERR, k, a->name, a->app->name, "%s", why);
		finish(a, -EIO, why);
		return k;
	}
	op->asked = true;
	a->activity = steps_is_check(&op->st)	 ? ACTIVITY_CHECKING
		      : steps_own_token(&op->st) ? ACTIVITY_REFRESHING
						 : ACTIVITY_ACQUIRING;
	account_changed(a);
	return 0;
}

/* Cluster mode: the refresh's intent is in the store (or not); its turn in
 * the app's queue was kept meanwhile. */
static void intent_done(struct account *a, int error, const char *why)
{
	struct op *op = a->ops;

	if (!op || !op->intent || !op->reserved)
		return;
	op->reserved = false;
	if (error < 0 || send_now(a, op) < 0)
		app_release(a->app); /* the turn is over: nothing went out */
	if (error < 0) {
		op->intent = false; /* nothing to withdraw */
		finish(a, error, why);
	}
}

static int slot_send(struct app_request *slot)
{
	struct op *op = container_of(slot, struct op, slot);
	struct account *a = op->account;
	const struct engine_cluster *c = a->ctx->cluster;

	if (op->st.kind != OP_REFRESH || !c || !may_call(a, op, true, NULL, 0))
		return send_now(a, op);
	/* the store hears right before each Meta call of a refresh, so that no
	 * other host refreshes the token too (CLUSTER.md) */
	op->intent = op->reserved = true;
	if (c->intent(c->userdata, a, intent_done) < 0) {
		op->intent = op->reserved = false;
		a->cluster_wait_until = a->ctx->now() + 1; /* the schedule: in a second */
		finish(a, -EREMOTEIO, "the cluster store cannot be asked now");
		return -EREMOTEIO;
	}
	return 0;
}

static bool slot_urgent(struct app_request *slot, int64_t now)
{
	struct op *op = container_of(slot, struct op, slot);

	/* an admin or an import waits for it */
	return !op->slot.scheduled || account_urgent(op->account, now);
}

static int64_t slot_urgent_at(struct app_request *slot)
{
	return account_urgent_at(container_of(slot, struct op, slot)->account);
}

static void slot_pause_changed(struct app_request *slot)
{
	account_changed(container_of(slot, struct op, slot)->account);
}

static const char *slot_user_id(struct app_request *slot)
{
	return container_of(slot, struct op, slot)->account->user_id;
}

static struct rl_state *slot_own(struct app_request *slot, bool take)
{
	struct account *a = container_of(slot, struct op, slot)->account;

	return take ? account_rl_take(a) : a->rl;
}

static const struct app_request_ops slot_ops = {
	.own = slot_own,
	.send = slot_send,
	.urgent = slot_urgent,
	.urgent_at = slot_urgent_at,
	.pause_changed = slot_pause_changed,
	.user_id = slot_user_id,
};

static void on_answer(const struct http_response *r, void *userdata)
{
	struct op *op = userdata;
	struct account *a = op->account;
	struct graph_verdict v;
	struct step_result res;

	const struct rl_state *own_now = account_rl(a);
	struct rl_state own = { .paused_until = own_now->paused_until,
				.throttle_count = own_now->throttle_count,
				.backoff_level = own_now->backoff_level };

	op->req = NULL; /* the request frees itself after this callback */
	op->asked = false;
	a->activity = ACTIVITY_IDLE;
	graph_classify(r->error, r->error_text, r->status, r->body, r->body_len,
		       steps_flags(op->st.step), &v);
	/* Meta may quote what it was sent: no token or code goes further than here */
	graph_scrub(v.why, op->st.token);
	graph_scrub(v.why, op->st.code);
	graph_scrub(v.why, op->st.current);
	if (v.verdict != VERDICT_OK)
		log_account(LOG_DEBUG, a->name, a->app->name, NULL, "answer: %s (%s)",
			    verdict_name(v.verdict), v.why);
	if (app_on_answer(a->app, r, v.verdict, v.why, &op->slot) > 0 && !steps_own_token(&op->st))
		log_account(LOG_WARNING, a->name, a->app->name, NULL,
			    "Meta paused this account's own calls: %s", v.why);
	own_now = account_rl(a);
	if (own.paused_until != own_now->paused_until ||
	    own.throttle_count != own_now->throttle_count ||
	    own.backoff_level != own_now->backoff_level)
		account_persist(a); /* a restart keeps the account's pause */
	account_rl_settle(a, a->ctx->now());
	steps_answer(a, &op->st, r, &v, &res);
	op->st.current = secret_free(op->st.current); /* unless a new token's write took it */
	if (res.pending) {
		op->storing = true; /* on_stored() goes on */
		a->activity = steps_own_token(&op->st) ? ACTIVITY_REFRESHING : ACTIVITY_ACQUIRING;
		return;
	}
	if (!res.done) {
		op->st.step = res.next;
		if (op->intent) {
			/* Meta answered without a token: the intent goes now, and a new
			 * one comes before the next call (which may wait for hours) */
			a->ctx->cluster->intent_cancel(a->ctx->cluster->userdata, a);
			op->intent = false;
		}
		wait_turn(a, op);
		return;
	}
	finish(a, res.error, res.message[0] ? res.message : NULL);
}

/* The new token's write reported. */
static void on_stored(struct account *a, int error, void *userdata)
{
	struct op *op = userdata;
	struct step_result res;

	op->storing = false;
	steps_stored(a, &op->st, error, &res);
	finish(a, res.error, res.message[0] ? res.message : NULL);
}

/* ---- starting ---- */

static void start(struct account *a)
{
	struct op *op = a->ops;
	int64_t now = a->ctx->now();
	char why[192];
	int k;

	if (!op || op->started)
		return;
	/* A record on its way to the vault (another host's, or the token of an
	 * operation that is gone) lands first: operation_resume() then. */
	if (a->write)
		return;
	op->started = true;
	if (op->st.kind == OP_CHECK && !account_checkable(a, now)) {
		finish(a, -ENOKEY, "no token to check");
		return;
	}
	if (op->st.kind == OP_REFRESH && (k = account_usable(a, now)) < 0) {
		finish(a, k, "the token cannot be refreshed");
		return;
	}
	if (!op->slot.scheduled && account_paused(a, now)) {
		char msg[128];
		finish(a, -EBUSY, account_paused_message(a, now, msg, sizeof(msg)));
		return;
	}
	if (!may_call(a, op, false, why, sizeof(why))) {
		finish(a, -EREMOTEIO, why);
		return;
	}
	op->st.step = steps_first(a, &op->st);
	wait_turn(a, op);
}

void operation_resume(struct account *a)
{
	start(a);
}

static int add_waiter(struct op *op, op_done_t done, void *userdata)
{
	struct waiter *w, **p;

	if (!done)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->done = done;
	w->userdata = userdata;
	for (p = &op->waiters; *p; p = &(*p)->next)
		;
	*p = w;
	return 0;
}

/* A new operation of this kind, with its first waiter; NULL (answered) without memory. */
static struct op *new_op(struct account *a, enum op_kind kind, op_done_t done, void *userdata)
{
	struct op *op = calloc(1, sizeof(*op));

	if (!op || add_waiter(op, done, userdata) < 0) {
		free(op);
		if (done)
			done(a, -ENOMEM, "out of memory", userdata);
		return NULL;
	}
	op->slot.ops = &slot_ops;
	op->slot.scheduled = !done;
	op->account = a;
	op->st.kind = kind;
	op->st.stored = on_stored;
	op->st.stored_userdata = op;
	return op;
}

static void push(struct account *a, struct op *op)
{
	struct op **p;

	for (p = &a->ops; *p; p = &(*p)->next)
		;
	*p = op;
	start(a);
}

void operation_refresh(struct account *a, op_done_t done, void *userdata)
{
	int64_t now = a->ctx->now(), when;
	char msg[256];
	struct op *op;
	int k;

	if (done && (k = account_usable(a, now)) < 0) {
		done(a, k, "the token cannot be refreshed", userdata);
		return;
	}
	if (done && account_paused(a, now)) {
		/* Meta asked for quiet: an admin hears so now rather than hours later */
		done(a, -EBUSY, account_paused_message(a, now, msg, sizeof(msg)), userdata);
		return;
	}
	if (done && (when = account_too_early(a, now)) > 0) {
		/* Meta would refuse it (CONTRACT 12.9): say when, without asking */
		done(a, -ETIME, account_too_early_message(a, when, now, msg, sizeof(msg)),
		     userdata);
		return;
	}
	if (done && !may_call(a, NULL, false, NULL, 0)) {
		/* cluster mode: the app's owner refreshes it (CONTRACT 13) */
		k = a->ctx->cluster->forward_refresh(a->ctx->cluster->userdata, a, done, userdata,
						     msg, sizeof(msg));
		if (k < 0)
			done(a, k == -ENOMEM ? k : -EREMOTEIO, msg, userdata);
		return;
	}
	/* one refresh per account at a time: join the one under way or waiting */
	for (op = a->ops; op; op = op->next)
		if (op->st.kind == OP_REFRESH) {
			if (done && op->slot.scheduled) {
				op->slot.scheduled =
					false; /* now someone waits: no backoff holds it */
				if (op->slot.queued)
					app_kick(a->app);
			}
			if (add_waiter(op, done, userdata) < 0)
				done(a, -ENOMEM, "out of memory", userdata);
			return;
		}
	op = new_op(a, OP_REFRESH, done, userdata);
	if (op)
		push(a, op);
}

void operation_import(struct account *a, struct secret *token, bool short_lived, op_done_t done,
		      void *userdata)
{
	struct op *op = new_op(a, OP_IMPORT, done, userdata);

	if (!op) {
		secret_free(token);
		return;
	}
	op->st.token = token;
	op->st.short_lived = short_lived;
	push(a, op);
}

void operation_enroll(struct account *a, struct secret *code, op_done_t done, void *userdata)
{
	struct op *op = new_op(a, OP_ENROLL, done, userdata);

	if (!op) {
		secret_free(code);
		return;
	}
	op->st.code = code;
	push(a, op);
}

void operation_on_deadline(struct account *a, int64_t now)
{
	int64_t when;
	struct op *op;

	if (a->ops || account_deadline(a, now) > now)
		return;
	if (!may_call(a, NULL, false, NULL, 0)) {
		account_changed(a); /* another host calls Meta for it: files the expiry */
		return;
	}
	if (account_expired_by_time(a, now)) {
		account_changed(a);
		return;
	}
	when = account_next_refresh(a, now);
	if (when > 0 && when <= now) {
		operation_refresh(a, NULL, NULL);
		return;
	}
	when = account_next_check(a, now);
	if (when == 0 || when > now) {
		account_changed(a); /* nothing due: file the next deadline */
		return;
	}
	op = new_op(a, OP_CHECK, NULL, NULL);
	if (op)
		push(a, op);
}

void operation_cancel_all(struct account *a, int error, const char *message)
{
	while (a->ops) {
		struct op *op = a->ops;
		struct waiter *w;

		a->ops = op->next;
		w = TAKE_PTR(op->waiters);
		op_free(op);
		for (struct waiter *i = w; i; i = i->next)
			i->done(a, error, message, i->userdata);
		free_waiters(w);
	}
	a->activity = ACTIVITY_IDLE;
}
