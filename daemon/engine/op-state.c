/* SPDX-License-Identifier: MIT */
#include "engine/op-state.h"

#include <stdio.h>

#include "basic/util.h"
#include "store/record.h"

void op_state_clear(struct op_state *s)
{
	secret_free(s->token);
	secret_free(s->code);
	secret_free(s->current);
	free(s->user_id);
	free(s->username);
	free(s->scopes);
	*s = (struct op_state){ 0 };
}

void step_done(struct step_result *ret, int error, const char *message)
{
	ret->done = true;
	ret->error = error;
	snprintf(ret->message, sizeof(ret->message), "%s", message ?: "");
}

void step_next(struct step_result *ret, enum op_step step)
{
	ret->done = false;
	ret->next = step;
}

void step_pending(struct step_result *ret)
{
	ret->done = false;
	ret->pending = true;
}

void step_seal_failure(int k, char *why, size_t len)
{
	errno = -k;
	snprintf(why, len, "cannot seal the new token in the vault: %m");
}

uint8_t step_token_type(const char *type)
{
	if (type && streq(type, "PAGE"))
		return TOKEN_PAGE;
	if (type && streq(type, "SYSTEM_USER"))
		return TOKEN_SYSTEM_USER;
	return TOKEN_USER;
}

struct new_token step_token_from_answer(const struct graph_token *t, const struct http_response *r,
					const struct op_state *s)
{
	return (struct new_token){
		.token = t->token,
		.issued_at = r->sent_at,
		.expires_at =
			r->sent_at + (t->expires_in > 0 ? t->expires_in : GRAPH_DEFAULT_LIFETIME),
		.user_id = t->user_id ?: (s ? s->user_id : NULL),
		.scopes = t->scopes ?: (s ? s->scopes : NULL),
	};
}
