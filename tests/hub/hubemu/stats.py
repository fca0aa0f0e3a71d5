"""Counters the tests read through GET /_emulator/stats (what happened, not what is stored)."""

import threading


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests_total = 0
            self.by_route = {}
            self.by_status = {}
            self.commits_total = 0
            self.commits_by_repo = {}
            self.squashes = 0
            self.lfs = {
                "batch_requests": 0,
                "batch_objects": 0,
                "objects_already_present": 0,
                "basic_uploads": 0,
                "multipart_started": 0,
                "multipart_completed": 0,
                "parts_uploaded": 0,
                "verify_requests": 0,
            }
            self.multipart_parts = {}  # sha256 -> number of parts of its completed upload
            self.faults_fired = 0

    def request(self, route):
        with self.lock:
            self.requests_total += 1
            self.by_route[route] = self.by_route.get(route, 0) + 1

    def status(self, code):
        with self.lock:
            k = str(code)
            self.by_status[k] = self.by_status.get(k, 0) + 1

    def commit(self, repo_display):
        with self.lock:
            self.commits_total += 1
            self.commits_by_repo[repo_display] = self.commits_by_repo.get(repo_display, 0) + 1

    def squash(self):
        with self.lock:
            self.squashes += 1

    def lfs_count(self, name, n=1):
        with self.lock:
            self.lfs[name] += n

    def multipart_done(self, sha, parts):
        with self.lock:
            self.lfs["multipart_completed"] += 1
            self.multipart_parts[sha] = parts

    def fault_fired(self):
        with self.lock:
            self.faults_fired += 1

    def snapshot(self):
        with self.lock:
            return {
                "requests": {
                    "total": self.requests_total,
                    "by_route": dict(self.by_route),
                    "by_status": dict(self.by_status),
                },
                "commits": {"total": self.commits_total, "by_repo": dict(self.commits_by_repo)},
                "squashes": self.squashes,
                "lfs": dict(self.lfs, multipart_parts=dict(self.multipart_parts)),
                "faults_fired": self.faults_fired,
            }
