/*
 * Process supervision for the agent (entrypoint.c): the plumbing of a PID 1.
 *
 * sup_init() blocks the signals the agent handles and reads them from a signalfd, so no work is
 * ever done in a signal handler and none is lost while the agent is busy; when the agent is not
 * PID 1 it becomes a child subreaper, so orphans of the app are reparented to it and reaped
 * either way. Children start with the signal mask the agent was given, each in a process group
 * of its own (so a terminal's or a group's signals reach only whom the agent means); the app also
 * gets the terminal when the agent had it.
 */
#ifndef HFSYNC_SUPERVISE_H
#define HFSYNC_SUPERVISE_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "hfsync/error.h"

typedef struct Supervisor {
    int sfd;           /* signalfd of the handled signals and SIGCHLD */
    sigset_t handled;  /* those signals */
    sigset_t old_mask; /* the mask the process started with, given to children */
    pid_t pgrp;        /* the agent's process group */
} Supervisor;

/* The signals passed on to the app (DESIGN.md §1, issue: PID 1 duties). */
extern const int sup_forwarded[];
extern const int sup_forwarded_count;

bool sup_init(Supervisor *s, Error *err);
void sup_close(Supervisor *s);

typedef struct SpawnOpts {
    bool search_path;   /* execvp: look argv[0] up in PATH */
    bool take_terminal; /* make the child's group the terminal's foreground if the agent's was */
    bool stdout_null;   /* stdout to /dev/null */
} SpawnOpts;

/* Start argv as a child, leader of its own process group. Returns its pid, or -1 with err set
 * (ERR_NOT_FOUND when the program does not exist, ERR_IO otherwise) when it could not be run. */
pid_t sup_spawn(Supervisor *s, char *const *argv, const SpawnOpts *opts, Error *err);

/* Wait up to timeout_ms (-1: no limit) for signals. Fills `signals` (at most `max`) with those
 * received, SIGCHLD included; returns how many. */
int sup_wait(Supervisor *s, int timeout_ms, int *signals, int max);

/* Reap one exited child without waiting: true with its pid and wait status, false when none. */
bool sup_reap(pid_t *pid, int *status);

#endif
