"""The one exception type handlers raise; app.py turns it into a Hub-style error response.

The real Hub answers errors with a JSON body {"error": "..."} and the headers X-Error-Code
(RepoNotFound, RevisionNotFound, EntryNotFound, ...) and X-Error-Message
(shared/reference/hf-hub-api.md section 9.4).
"""


class HubError(Exception):
    def __init__(self, status, message, code=None, headers=None, body=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.body = body  # replaces {"error": message} when set


def bad_request(message):
    return HubError(400, message)


def repo_not_found(authenticated):
    # Anonymous callers get 401 for a missing or private repo, authenticated ones 404 (section 1.1).
    return HubError(
        404 if authenticated else 401,
        "Repository not found",
        code="RepoNotFound",
    )


def revision_not_found(rev):
    return HubError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")


def entry_not_found(path):
    return HubError(404, f"Entry not found: '{path}'", code="EntryNotFound")
