"""A minimal fake of the Hugging Face Hub HTTP API, enough for ``HfApi.create_repo``,
``dataset_info``, ``create_branch``, ``list_repo_files``, file downloads (``/resolve/``),
``create_commit`` (validate-yaml, preupload, NDJSON commit) — run in a thread by the tests.

Every request is recorded (method, path with query, headers, body). Preupload answers
``"uploadMode": "regular"`` for every file, so commits carry all content inline (base64).
Write calls need ``Authorization: Bearer <token>``; anything else gets 401.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Repo:
    private: bool
    branches: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {".gitattributes": b"*.parquet filter=lfs\n"}})
    pull_requests: list[dict[str, bytes]] = field(default_factory=list)
    commits: list[dict] = field(default_factory=list)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeHub:
    """``FakeHub(token).start()``; ``url``; ``repos`` (repo_id → Repo); ``requests``."""

    def __init__(self, token: str):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                hub._handle(self, "GET")

            def do_HEAD(self):
                hub._handle(self, "HEAD")

            def do_POST(self):
                hub._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeHub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def files(self, repo_id: str, branch: str = "main") -> dict[str, bytes]:
        return self.repos[repo_id].branches[branch]

    # -- dispatch --------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        self.requests.append(Request(method, handler.path, {k.lower(): v for k, v in handler.headers.items()}, body))
        url = urlsplit(handler.path)
        path, query = url.path, parse_qs(url.query)
        authorised = handler.headers.get("Authorization") == f"Bearer {self.token}"
        try:
            status, payload, headers = self._route(method, path, query, body, authorised)
        except Exception as error:  # a bug in the fake shows up as a 500 the test will see
            status, payload, headers = 500, {"error": repr(error)}, {}
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream" if isinstance(payload, bytes) else "application/json")
        handler.send_header("Content-Length", str(len(content)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(content)

    def _route(self, method, path, query, body, authorised):
        if method == "POST" and path == "/api/repos/create":
            if not authorised:
                return 401, {"error": "Invalid credentials"}, {}
            data = json.loads(body)
            repo_id = f"{data.get('organization') or 'me'}/{data['name']}"
            if repo_id in self.repos:
                return 409, {"error": "You already created this dataset repo",
                             "url": f"{self.url}/datasets/{repo_id}"}, {}
            self.repos[repo_id] = Repo(private=data.get("visibility") == "private")
            return 200, {"url": f"{self.url}/datasets/{repo_id}"}, {}
        if method == "POST" and path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}, {}
        match = re.fullmatch(r"/api/datasets/([^/]+)/([^/]+)(?:/(revision|tree|branch|preupload|commit)/([^/]+)(/.*)?)?",
                             path)
        if match:
            repo_id, action = f"{match[1]}/{match[2]}", match[3]
            revision = unquote(match[4]) if match[4] else "main"
            repo = self.repos.get(repo_id)
            if repo is None or (repo.private and not authorised):
                return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
            if action in (None, "revision") and method == "GET":
                return 200, {"id": repo_id, "private": repo.private, "sha": "0" * 40,
                             "siblings": [{"rfilename": name} for name in repo.branches.get(revision, {})]}, {}
            if action == "tree" and method == "GET":
                if revision not in repo.branches:
                    return 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"}
                return 200, [{"type": "file", "path": name, "size": len(content),
                              "oid": hashlib.sha1(content).hexdigest()}
                             for name, content in sorted(repo.branches[revision].items())], {}
            if not authorised:
                return 401, {"error": "Invalid credentials"}, {}
            if action == "branch" and method == "POST":
                if revision in repo.branches:
                    return 409, {"error": "Branch already exists"}, {}
                repo.branches[revision] = dict(repo.branches["main"])
                return 200, {}, {}
            if action == "preupload" and method == "POST":
                files = json.loads(body)["files"]
                return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                                       for f in files]}, {}
            if action == "commit" and method == "POST":
                return self._commit(repo_id, repo, revision, query, body)
        match = re.fullmatch(r"/datasets/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", path)
        if match and method in ("GET", "HEAD"):
            repo = self.repos.get(f"{match[1]}/{match[2]}")
            if repo is None or (repo.private and not authorised):
                return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
            files = repo.branches.get(unquote(match[3]), {})
            name = unquote(match[4])
            if name not in files:
                return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
            return 200, files[name], {"ETag": hashlib.sha1(files[name]).hexdigest(), "X-Repo-Commit": "0" * 40}
        return 404, {"error": f"fake hub: no route for {method} {path}"}, {}

    def _commit(self, repo_id, repo, revision, query, body):
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = lines[0]
        assert header["key"] == "header"
        create_pr = query.get("create_pr") == ["1"]
        if not create_pr and revision not in repo.branches:
            return 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"}
        files = dict(repo.branches["main" if create_pr else revision])
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "deletedFile":
                files.pop(value["path"])
            else:  # lfsFile etc.: this fake asked for regular uploads only
                return 400, {"error": f"unexpected commit entry {line['key']}"}, {}
        repo.commits.append({"revision": revision, "create_pr": create_pr, "header": header["value"], "lines": lines[1:]})
        sha = hashlib.sha1(body).hexdigest()
        if create_pr:
            repo.pull_requests.append(files)
            number = len(repo.pull_requests)
            return 200, {"commitUrl": f"{self.url}/datasets/{repo_id}/commit/{sha}", "commitOid": sha,
                         "pullRequestUrl": f"{self.url}/datasets/{repo_id}/discussions/{number}"}, {}
        repo.branches[revision] = files
        return 200, {"commitUrl": f"{self.url}/datasets/{repo_id}/commit/{sha}", "commitOid": sha,
                     "pullRequestUrl": None}, {}
