/* SPDX-License-Identifier: MIT */
#pragma once

#include <syslog.h>

#include "basic/macro.h"

/* One line per event on stderr, or native journal entries with fields when
 * $JOURNAL_STREAM names our stderr. Never pass a secret to these functions:
 * mention tokens by secret_fingerprint() only. */

void log_setup(void);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Route log lines to this fd instead of stderr (tests). */
void log_set_fd(int fd);

/* Returns -abs(error) (or 0 when error is 0) so callers can `return log_...`. */
int log_full(int level, int error, const char *account, const char *app, const char *state,
	     const char *fmt, ...) _printf_(6, 7);
/* The same with a journal MESSAGE_ID (32 hex digits) that the shipped catalog
 * explains (contrib/systemd/igtokend.catalog); on stderr the id is left out. */
int log_full_id(int level, const char *message_id, const char *account, const char *app,
		const char *state, const char *fmt, ...) _printf_(6, 7);

#define log_debug(...)		  log_full(LOG_DEBUG, 0, NULL, NULL, NULL, __VA_ARGS__)
#define log_info(...)		  log_full(LOG_INFO, 0, NULL, NULL, NULL, __VA_ARGS__)
#define log_notice(...)		  log_full(LOG_NOTICE, 0, NULL, NULL, NULL, __VA_ARGS__)
#define log_warning(...)	  log_full(LOG_WARNING, 0, NULL, NULL, NULL, __VA_ARGS__)
#define log_error(...)		  log_full(LOG_ERR, 0, NULL, NULL, NULL, __VA_ARGS__)
#define log_warning_errno(r, ...) log_full(LOG_WARNING, (r), NULL, NULL, NULL, __VA_ARGS__)
#define log_error_errno(r, ...)	  log_full(LOG_ERR, (r), NULL, NULL, NULL, __VA_ARGS__)

/* With ACCOUNT=/APP=/STATE= context. */
#define log_account(level, acct, app, state, ...)                                                  \
	log_full((level), 0, (acct), (app), (state), __VA_ARGS__)
#define log_account_errno(level, r, acct, app, ...)                                                \
	log_full((level), (r), (acct), (app), NULL, __VA_ARGS__)
#define log_app(level, app, ...) log_full((level), 0, NULL, (app), NULL, __VA_ARGS__)
