/* SPDX-License-Identifier: MIT */
#include "engine/hooks.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>

#include "basic/log.h"
#include "basic/util.h"

struct job {
	struct hooks *h;
	struct job *next;
	char *kind, *account, *app;
	char **argv, **envp;
	pid_t pid;   /* the hook, leader of its own process group (setsid) */
	bool reaped; /* the hook exited; its group may live on until the timeout */
	int out_fd;
	sd_event_source *child, *out, *timer;
	char output[HOOK_OUTPUT_MAX + 1];
	size_t output_len;
	bool truncated;
};

struct hooks {
	sd_event *event;
	struct job *running, *waiting, *waiting_tail;
	unsigned n_running, n_waiting;
	int64_t timeout;
};

static void job_free(struct job *j)
{
	sd_event_source_disable_unref(j->child);
	sd_event_source_disable_unref(j->out);
	sd_event_source_disable_unref(j->timer);
	if (j->out_fd >= 0)
		close(j->out_fd);
	free(j->kind);
	free(j->account);
	free(j->app);
	strv_free(j->argv);
	strv_free(j->envp);
	free(j);
}

int hooks_new(sd_event *e, struct hooks **ret)
{
	struct hooks *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->event = sd_event_ref(e);
	h->timeout = 30;
	*ret = h;
	return 0;
}

static void unlink_job(struct job **list, struct job *j)
{
	for (struct job **p = list; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			return;
		}
}

struct hooks *hooks_free(struct hooks *h)
{
	if (!h)
		return NULL;
	while (h->running) {
		struct job *j = h->running;
		h->running = j->next;
		if (j->pid > 0) {
			kill(-j->pid, SIGKILL); /* the hook and whatever it started */
			if (!j->reaped)
				(void)waitpid(j->pid, NULL, 0);
		}
		job_free(j);
	}
	while (h->waiting) {
		struct job *j = h->waiting;
		h->waiting = j->next;
		job_free(j);
	}
	sd_event_unref(h->event);
	free(h);
	return NULL;
}

void hooks_set_timeout(struct hooks *h, int64_t seconds)
{
	h->timeout = seconds;
}

static void log_output(struct job *j)
{
	char *line = j->output, *nl;

	j->output[j->output_len] = '\0';
	while (*line) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (*line)
			log_full(LOG_INFO, 0, j->account, j->app, NULL, "%s hook: %s", j->kind,
				 line);
		if (!nl)
			break;
		line = nl + 1;
	}
	if (j->truncated)
		log_full(LOG_INFO, 0, j->account, j->app, NULL,
			 "%s hook: (output beyond %d bytes dropped)", j->kind, HOOK_OUTPUT_MAX);
	j->output_len = 0;
}

static void start_waiting(struct hooks *h);

static void job_done(struct job *j)
{
	struct hooks *h = j->h;
	unlink_job(&h->running, j);
	h->n_running--;
	job_free(j);
	start_waiting(h);
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct job *j = userdata;
	char buf[4096];
	ssize_t k;
	(void)s;
	(void)revents;

	while ((k = read(fd, buf, sizeof(buf))) > 0) {
		size_t room = HOOK_OUTPUT_MAX - j->output_len, take = MIN((size_t)k, room);
		memcpy(j->output + j->output_len, buf, take);
		j->output_len += take;
		if (take < (size_t)k)
			j->truncated = true;
	}
	if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
		j->out = sd_event_source_disable_unref(j->out);
	return 0;
}

static int on_exit_(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct job *j = userdata;
	(void)s;

	on_output(NULL, j->out_fd, 0, j); /* the rest of what it wrote */
	log_output(j);
	if (si->si_code == CLD_EXITED && si->si_status == 0)
		log_full(LOG_DEBUG, 0, j->account, j->app, NULL, "%s hook %s finished", j->kind,
			 j->argv[0]);
	else if (si->si_code == CLD_EXITED)
		log_full(LOG_WARNING, 0, j->account, j->app, NULL,
			 "%s hook %s failed with exit status %d", j->kind, j->argv[0],
			 si->si_status);
	else
		log_full(LOG_WARNING, 0, j->account, j->app, NULL, "%s hook %s killed by signal %s",
			 j->kind, j->argv[0], strsignal(si->si_status));
	j->reaped = true;
	j->child = sd_event_source_disable_unref(j->child);
	/* Processes it left in its group get the rest of its time, then the timeout
	 * kills them (the group id stays theirs while any of them lives). */
	if (kill(-j->pid, 0) == 0)
		return 0;
	job_done(j);
	return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct job *j = userdata;
	(void)s;
	(void)usec;
	log_full(LOG_WARNING, 0, j->account, j->app, NULL,
		 j->reaped ? "%s hook %s left processes running beyond %llds: killing them"
			   : "%s hook %s ran longer than %llds: killing it",
		 j->kind, j->argv[0], (long long)j->h->timeout);
	kill(-j->pid, SIGKILL); /* the whole group: the hook and what it started */
	if (j->reaped)
		job_done(j); /* else on_exit_ reaps it */
	return 0;
}

static int spawn(struct job *j)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int pipefd[2], r;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);   /* our blocked signals are not the hook's */
	posix_spawnattr_setsigdefault(&attr, &all); /* nor our ignored SIGPIPE */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETSID);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	r = posix_spawn(&j->pid, j->argv[0], &fa, &attr, j->argv, j->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		j->pid = 0;
		return -r;
	}
	j->out_fd = pipefd[0];
	(void)fcntl(j->out_fd, F_SETFL, O_NONBLOCK);
	if ((r = sd_event_add_child(j->h->event, &j->child, j->pid, WEXITED, on_exit_, j)) < 0 ||
	    (r = sd_event_add_io(j->h->event, &j->out, j->out_fd, EPOLLIN, on_output, j)) < 0 ||
	    (r = sd_event_add_time_relative(j->h->event, &j->timer, CLOCK_BOOTTIME,
					    (uint64_t)j->h->timeout * USEC_PER_SEC,
					    USEC_PER_SEC / 10, on_timeout, j)) < 0) {
		kill(j->pid, SIGKILL);
		(void)waitpid(j->pid, NULL, 0);
		j->pid = 0;
		return r;
	}
	(void)sd_event_source_set_description(j->child, "hook-child");
	(void)sd_event_source_set_description(j->out, "hook-output");
	(void)sd_event_source_set_description(j->timer, "hook-timeout");
	return 0;
}

static void start_waiting(struct hooks *h)
{
	while (h->waiting && h->n_running < HOOKS_RUNNING_MAX) {
		struct job *j = h->waiting;
		int r;

		h->waiting = j->next;
		if (!h->waiting)
			h->waiting_tail = NULL;
		h->n_waiting--;
		r = spawn(j);
		if (r < 0) {
			log_full(LOG_WARNING, r, j->account, j->app, NULL,
				 "%s hook %s could not start: %m", j->kind, j->argv[0]);
			job_free(j);
			continue;
		}
		j->next = h->running;
		h->running = j;
		h->n_running++;
	}
}

static char *fact(const char *name, const char *value)
{
	char *s;
	return asprintf(&s, "%s=%s", name, value ?: "") < 0 ? NULL : s;
}

void hooks_run(struct hooks *h, const char *kind, char *const *argv, const struct hook_facts *f)
{
	struct job *j;
	char exp[32];
	char *env[] = {
		fact("IGTOKEN_ACCOUNT", f->account),
		fact("IGTOKEN_STATE", f->state),
		fact("IGTOKEN_PREVIOUS_STATE", f->previous_state),
		(snprintf(exp, sizeof(exp), "%lld", (long long)f->expires_at),
		 fact("IGTOKEN_EXPIRES_AT", exp)),
		fact("IGTOKEN_ERROR", f->error),
		fact("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
		NULL,
	};

	if (!argv || !argv[0])
		goto out;
	if (h->n_waiting >= HOOKS_QUEUE_MAX) {
		log_full(LOG_WARNING, 0, f->account, f->app, NULL,
			 "%s hook dropped: %u hooks already wait", kind, h->n_waiting);
		goto out;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->argv = strv_copy(argv)) || !(j->envp = strv_copy(env)) ||
	    !(j->kind = strdup(kind)) || !(j->account = strdup(f->account)) ||
	    !(j->app = strdup(f->app))) {
		if (j)
			job_free(j);
		log_full(LOG_ERR, -ENOMEM, f->account, f->app, NULL, "%s hook not run: %m", kind);
		goto out;
	}
	j->h = h;
	j->out_fd = -1;
	if (h->waiting_tail)
		h->waiting_tail->next = j;
	else
		h->waiting = j;
	h->waiting_tail = j;
	h->n_waiting++;
	start_waiting(h);
out:
	for (size_t i = 0; i < ELEMENTSOF(env); i++)
		free(env[i]);
}
