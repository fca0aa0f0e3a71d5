"""Git details the Hub exposes: blob ids, LFS pointers, .gitattributes LFS rules, path checks."""

import hashlib
import re

LFS_LINE = " filter=lfs diff=lfs merge=lfs -text"

# The .gitattributes the Hub writes into a new repo's "initial commit" (the patterns every Hub
# repo starts with; datasets also track media and database files).
_COMMON = [
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib",
    "*.lfs.*", "*.lz4", "*.mds", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz",
    "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar",
    "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm",
    "*.xz", "*.zip", "*.zst", "*tfevents*",
]
_DATASET_EXTRA = [
    "*.pcm", "*.sam", "*.raw", "*.aac", "*.flac", "*.mp3", "*.ogg", "*.wav", "*.bmp", "*.gif",
    "*.png", "*.tiff", "*.jpg", "*.jpeg", "*.webp", "*.avi", "*.mkv", "*.mov", "*.mp4",
    "*.webm", "*.db", "*.duckdb", "*.sqlite", "*.sqlite3",
]


def default_gitattributes(repo_type):
    patterns = _COMMON + (_DATASET_EXTRA if repo_type == "dataset" else [])
    return "".join(p + LFS_LINE + "\n" for p in patterns).encode()


def git_blob_sha1(data):
    """Git's object id of a blob: sha1("blob <len>\\0" + data)."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256, size):
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _glob_to_regex(glob):
    """gitattributes glob -> regex over a full path. '*' and '?' stay inside one segment."""
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("[[:space:]]", i):
            out.append(r"\s")
            i += len("[[:space:]]")
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[":
            end = glob.find("]", i + 2)
            if end < 0:
                out.append(re.escape("["))
                i += 1
            else:
                cls = glob[i + 1:end]
                if cls.startswith("!"):
                    cls = "^" + cls[1:]
                out.append("[" + cls.replace("\\", "\\\\") + "]")
                i = end + 1
        elif glob[i] == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


class LfsRules:
    """The 'filter' attribute rules of one .gitattributes file; the last matching line wins, as
    in git. Only the root file is read (like the Hub's preupload, to our knowledge)."""

    def __init__(self, text):
        self.rules = []  # (regex, is_lfs)
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            pattern, attrs = fields[0], fields[1:]
            verdict = None
            for a in attrs:
                if a == "filter=lfs":
                    verdict = True
                elif a.startswith("filter=") or a in ("-filter", "!filter"):
                    verdict = False
            if verdict is None:
                continue
            anchored = "/" in pattern.rstrip("/")
            body = _glob_to_regex(pattern.lstrip("/"))
            regex = re.compile(body if anchored else "(?:.*/)?" + body)
            self.rules.append((regex, verdict))

    def is_lfs(self, path):
        verdict = False
        for regex, is_lfs in self.rules:
            if regex.fullmatch(path):
                verdict = is_lfs
        return verdict


def escape_pattern(path):
    """A literal path as a gitattributes pattern (what `git lfs track` writes)."""
    out = []
    for ch in path:
        if ch.isspace():
            out.append("[[:space:]]")
        elif ch in "*?[\\#!":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def check_path(path):
    """Returns an error message for a path the Hub would refuse, else None."""
    if not isinstance(path, str) or path == "":
        return "empty path"
    if len(path.encode()) > 4096:
        return f"path too long: '{path[:80]}...'"
    if path.startswith("/") or path.endswith("/"):
        return f"invalid path '{path}': must be relative and name a file"
    if "\0" in path:
        return "invalid path: contains a NUL byte"
    for seg in path.split("/"):
        if seg in ("", ".", ".."):
            return f"invalid path '{path}': empty, '.' or '..' segment"
    if path == ".git" or path.startswith(".git/"):
        return f"invalid path '{path}': inside .git"
    return None
