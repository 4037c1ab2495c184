/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/macro.h"

/* Longest duration accepted anywhere (durations are stored as int64 seconds). */
#define DURATION_MAX_SEC ((int64_t)3650 * 24 * 3600)
/* Names of accounts and apps: [A-Za-z0-9._-]{1,64}, not starting with '.' */
#define NAME_MAX_LEN 64

int parse_duration(const char *s, int64_t *ret_sec);
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);
int parse_percent(const char *s, double *ret);
int parse_mode(const char *s, mode_t *ret);
/* geteuid(), asked once: the daemon never changes it, and start-up checks the
 * owner of 100 000 files. */
uid_t euid_cached(void);
/* v in decimal into buf (NUL-terminated, at most 20 characters); returns its length. */
size_t format_int64(char buf[static 24], int64_t v);
bool name_is_valid(const char *s);
/* "HOST:PORT", "[IPV6]:PORT": the host (without brackets) and a port 1-65535. */
int parse_host_port(const char *s, char **ret_host, uint16_t *ret_port);
/* A token as Meta issues them: 1..8192 printable ASCII characters, no spaces. */
bool token_is_valid(const char *t, size_t n);

/* Relative time for people: "in 3d 4h", "2h ago", "now". */
void format_relative(int64_t when, int64_t now, char *buf, size_t len);
/* Duration for people: "3d 4h", "5m 2s", "0s". */
void format_duration(int64_t sec, char *buf, size_t len);

/* a, b and c in one new string. */
int strjoin3(char **ret, const char *a, const char *b, const char *c);
char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
bool strv_equal(char *const *x, char *const *y);
int strv_push(char ***l, char *s); /* takes ownership of s on success */
char **strv_copy(char *const *l);

int64_t now_realtime_sec(void);
/* Rounded up: a wait counted from it is never shorter than asked. */
int64_t now_realtime_sec_ceil(void);
uint64_t now_boottime_usec(void);
uint64_t now_monotonic_usec(void);

/* Path of a file relative to the directory of `base` (unless path is absolute). */
char *path_relative_to(const char *base, const char *path);

/* Text from outside (Meta, a client) made safe for a log line, an answer, a hook's
 * environment, a terminal: control characters become '?'. In place; returns s. */
char *string_scrub_controls(char *s);

/* Free helper for C strings holding secret-ish material (wipes before free). */
void free_wiped(char *s);
