"""Tokens, users, organisations and the Hub's access answers.

- A token given with --token may write, one given with --read-token may only read; each belongs
  to a user (TOKEN=USER, default the --user name). --org ORG=USER,USER makes users members.
- With no token configured at all, any Bearer token is accepted as a write token of --user.
- Unknown token: 401 with X-Error-Message "Invalid credentials in Authorization header" (the
  exact text huggingface_hub special-cases, reference section 1.1).
- Missing repo, or a private repo the caller cannot see: 404 RepoNotFound when authenticated,
  401 RepoNotFound when anonymous (the Hub does not reveal private repos).
- Writing to a visible repo of another namespace, or with a read token: 403.
"""

import base64

from .errors import HubError, repo_not_found

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


class Principal:
    def __init__(self, token, user, write, orgs):
        self.token = token
        self.user = user
        self.write = write
        self.orgs = sorted(orgs)

    @property
    def namespaces(self):
        return {self.user.lower()} | {o.lower() for o in self.orgs}


class Auth:
    def __init__(self, write_tokens, read_tokens, orgs, default_user):
        """write_tokens/read_tokens: {token: user}; orgs: {org: set(users)}."""
        self.tokens = {t: (u, True) for t, u in write_tokens.items()}
        self.tokens.update({t: (u, False) for t, u in read_tokens.items()})
        self.orgs = orgs
        self.default_user = default_user
        self.open = not self.tokens

    def _orgs_of(self, user):
        return {org for org, members in self.orgs.items() if user in members}

    def authenticate(self, header):
        """The caller, or None when anonymous. Raises 401 for a token we do not know."""
        if not header:
            return None
        scheme, _, cred = header.strip().partition(" ")
        cred = cred.strip()
        if scheme.lower() == "basic":
            # git-lfs style: base64("user:token"), the token is the password
            try:
                cred = base64.b64decode(cred).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                cred = ""
        elif scheme.lower() != "bearer":
            cred = ""
        if not cred:
            raise HubError(401, INVALID_CREDENTIALS)
        if self.open:
            return Principal(cred, self.default_user, True, self._orgs_of(self.default_user))
        known = self.tokens.get(cred)
        if known is None:
            raise HubError(401, INVALID_CREDENTIALS)
        user, write = known
        return Principal(cred, user, write, self._orgs_of(user))

    @staticmethod
    def owns(principal, namespace):
        return principal is not None and namespace.lower() in principal.namespaces

    def check_read(self, repo, principal):
        if repo is None or (repo.private and not self.owns(principal, repo.namespace)):
            raise repo_not_found(principal is not None)

    def check_write(self, repo, principal):
        self.check_read(repo, principal)
        if principal is None:
            raise HubError(401, "You must be authenticated to write to this repo")
        if not self.owns(principal, repo.namespace):
            raise HubError(403, f"You don't have the rights to write to {repo.display}")
        if not principal.write:
            raise HubError(403, "This token has read access only; a write token is needed")

    def check_create(self, namespace, repo_type, principal):
        if principal is None:
            raise HubError(401, "You must be authenticated to create a repo")
        if not self.owns(principal, namespace):
            raise HubError(403, f'You don\'t have the rights to create a {repo_type} under the namespace "{namespace}"')
        if not principal.write:
            raise HubError(403, "This token has read access only; a write token is needed")
