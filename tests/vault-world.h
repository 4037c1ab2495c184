/* SPDX-License-Identifier: MIT */
#pragma once

/* What test-vault.c and vault-crash.c share: the vault directory and key of
 * the test, and records made up for it. */

#include <stdint.h>

#include "store/record.h"

extern char key1[256], dir[256];

void make_record(struct vault_record *r, const char *token, int64_t t);
void clear_record(struct vault_record *r);

/* vault-crash.c: SIGKILL trials of plain and of grouped writes */
void test_crash_trials(void);
void test_crash_trials_grouped(void);
