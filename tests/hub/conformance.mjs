// Conformance test of tests/hub-emulator against the official JavaScript client @huggingface/hub
// (the version pinned in package-lock.json).
//
//   node tests/hub/conformance.mjs URL TOKEN OTHER_TOKEN
//
// URL: the emulator (http://127.0.0.1:PORT), started with --token TOKEN (user "user"),
// --token OTHER_TOKEN=other, --lfs-chunk-size small enough that a few-MB file needs several
// parts, and --page-size small enough that listings take several pages.
// Prints one line per check, "PASS name" or "FAIL name" followed by "  | detail" lines;
// tests/e2e/test_hub_emulator.sh turns them into TAP. Exits 1 if anything failed.
// Where the client and the reference notes disagree, the client wins: these checks use the
// client's public functions exactly as a user would.

import { createHash, randomBytes } from "node:crypto";
import * as hub from "@huggingface/hub";

const [url, token, otherToken] = process.argv.slice(2);
if (!url || !token || !otherToken) {
	console.error("usage: node conformance.mjs URL TOKEN OTHER_TOKEN");
	process.exit(2);
}

let failed = 0;
function report(name, error) {
	if (!error) {
		console.log(`PASS ${name}`);
		return;
	}
	failed++;
	console.log(`FAIL ${name}`);
	const text = error instanceof Error ? `${error.message}\n${(error.stack || "").split("\n").slice(1, 4).join("\n")}` : String(error);
	for (const line of text.split("\n")) console.log(`  | ${line}`);
}
async function check(name, fn) {
	try {
		await fn();
		report(name);
	} catch (e) {
		report(name, e);
	}
}
function assert(cond, message) {
	if (!cond) throw new Error(message);
}
function eq(actual, expected, what) {
	const a = JSON.stringify(actual);
	const b = JSON.stringify(expected);
	if (a !== b) throw new Error(`${what}: expected ${b}, got ${a}`);
}
async function expectStatus(promise, status, what) {
	try {
		await promise;
	} catch (e) {
		if (e instanceof hub.HubApiError && e.statusCode === status) return e;
		throw new Error(`${what}: expected HubApiError ${status}, got ${e?.constructor?.name} ${e?.statusCode ?? ""}: ${e?.message}`);
	}
	throw new Error(`${what}: expected HubApiError ${status}, but the call succeeded`);
}
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const gitBlobSha1 = (buf) => createHash("sha1").update(`blob ${buf.length}\0`).update(buf).digest("hex");
const sameBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

async function stats() {
	const res = await fetch(`${url}/_emulator/stats`);
	assert(res.ok, `GET /_emulator/stats: HTTP ${res.status}`);
	return res.json();
}
const route = (s, name) => s.requests.by_route[name] ?? 0;
const status = (s, code) => s.requests.by_status[String(code)] ?? 0;

const repo = { type: "dataset", name: "user/conformance" };
const repoKey = "datasets/user/conformance";
const auth = { accessToken: token, hubUrl: url };

async function listAll(params) {
	const out = [];
	for await (const e of hub.listFiles({ ...auth, repo, ...params })) out.push(e);
	return out;
}
async function download(path, extra = {}) {
	const blob = await hub.downloadFile({ ...auth, repo, path, ...extra });
	return blob === null ? null : Buffer.from(await blob.arrayBuffer());
}

const cfg = (await stats()).config;
const chunk = cfg.lfs_chunk_size;
const small = {
	"hello.txt": Buffer.from("hello world\n"),
	"dir/b.txt": Buffer.from("bee\n"),
	"dir/sub/c.txt": Buffer.from("deep file\n"),
	"empty.txt": Buffer.alloc(0),
};
const big = randomBytes(3 * chunk + 12345); // several multipart parts
const smallBin = randomBytes(2000); // LFS by .gitattributes (*.bin), basic transfer
const bigSha = sha256(big);
const expectedParts = Math.ceil(big.length / chunk);

// ---- createRepo, whoAmI

await check("createRepo creates a private dataset repo and returns its URL", async () => {
	const res = await hub.createRepo({ ...auth, repo, private: true });
	eq(res.repoUrl, `${url}/datasets/user/conformance`, "repoUrl");
	const s = await stats();
	assert(s.repos[repoKey], `stats has no repo ${repoKey}: ${Object.keys(s.repos)}`);
	eq(s.repos[repoKey].private, true, "private");
	eq(s.repos[repoKey].history.main, 1, "commits in a new repo (the initial commit)");
});

await check("createRepo of an existing repo fails with 409", async () => {
	await expectStatus(hub.createRepo({ ...auth, repo }), 409, "second createRepo");
});

await check("whoAmI names the token's user with write access", async () => {
	const me = await hub.whoAmI({ ...auth });
	eq(me.name, "user", "name");
	eq(me.auth.accessToken?.role, "write", "role");
});

await check("repoExists is true for the repo and false for a missing one", async () => {
	eq(await hub.repoExists({ ...auth, repo }), true, "existing repo");
	eq(await hub.repoExists({ ...auth, repo: { type: "dataset", name: "user/none-such" } }), false, "missing repo");
});

// ---- uploads

await check("uploadFiles with small files commits them without LFS", async () => {
	const before = await stats();
	const res = await hub.uploadFiles({
		...auth,
		repo,
		commitTitle: "small files",
		files: Object.entries(small).map(([path, content]) => ({ path, content: new Blob([content]) })),
	});
	assert(/^[0-9a-f]{40}$/.test(res?.commit?.oid ?? ""), `commit oid: ${res?.commit?.oid}`);
	const after = await stats();
	eq(after.commits.by_repo[repoKey] - (before.commits.by_repo[repoKey] ?? 0), 1, "commits made");
	eq(route(after, "preupload") - route(before, "preupload"), 1, "preupload calls");
	eq(route(after, "lfs_batch") - route(before, "lfs_batch"), 0, "LFS batch calls");
	eq(after.repos[repoKey].refs.main, res.commit.oid, "branch head");
});

await check(`uploadFiles with a ${big.length}-byte file takes the multipart path (${expectedParts} parts), a small .bin the basic one`, async () => {
	assert(expectedParts > 1, `chunk size ${chunk} gives only ${expectedParts} part(s)`);
	const before = await stats();
	await hub.uploadFiles({
		...auth,
		repo,
		commitTitle: "large files",
		files: [
			{ path: "big.bin", content: new Blob([big]) },
			{ path: "small.bin", content: new Blob([smallBin]) },
		],
	});
	const after = await stats();
	eq(route(after, "lfs_batch") - route(before, "lfs_batch"), 1, "LFS batch calls");
	eq(route(after, "lfs_part") - route(before, "lfs_part"), expectedParts, "part PUTs");
	eq(route(after, "lfs_complete") - route(before, "lfs_complete"), 1, "completion calls");
	eq(after.lfs.multipart_parts[bigSha], expectedParts, "parts of the big object's completed upload");
	eq(route(after, "lfs_upload") - route(before, "lfs_upload"), 1, "basic PUTs");
	eq(after.lfs.basic_uploads - before.lfs.basic_uploads, 1, "basic uploads stored");
});

// ---- listing

const expectedTree = [
	"file:.gitattributes",
	"file:big.bin",
	"directory:dir",
	"file:dir/b.txt",
	"directory:dir/sub",
	"file:dir/sub/c.txt",
	"file:empty.txt",
	"file:hello.txt",
	"file:small.bin",
].sort();

await check("listFiles recursive lists every file and folder, over several pages", async () => {
	const before = await stats();
	const entries = await listAll({ recursive: true });
	const after = await stats();
	eq(entries.map((e) => `${e.type}:${e.path}`).sort(), expectedTree, "entries");
	const pages = route(after, "tree") - route(before, "tree");
	eq(pages, Math.ceil(expectedTree.length / cfg.page_size), `tree requests (page size ${cfg.page_size})`);
	assert(pages > 1, "the listing fit in one page: start the emulator with a smaller --page-size");
	const byPath = Object.fromEntries(entries.map((e) => [e.path, e]));
	eq(byPath["big.bin"].size, big.length, "big.bin size");
	eq(byPath["big.bin"].lfs?.oid, bigSha, "big.bin lfs.oid");
	eq(byPath["big.bin"].lfs?.size, big.length, "big.bin lfs.size");
	eq(byPath["small.bin"].lfs?.oid, sha256(smallBin), "small.bin lfs.oid");
	eq(byPath["hello.txt"].oid, gitBlobSha1(small["hello.txt"]), "hello.txt oid (git blob sha1)");
	eq(byPath["hello.txt"].lfs, undefined, "hello.txt lfs");
	eq(byPath["empty.txt"].size, 0, "empty.txt size");
});

await check("listFiles without recursion lists one level, at the root and in a folder", async () => {
	const root = await listAll({});
	eq(
		root.map((e) => `${e.type}:${e.path}`).sort(),
		["directory:dir", "file:.gitattributes", "file:big.bin", "file:empty.txt", "file:hello.txt", "file:small.bin"].sort(),
		"root entries",
	);
	const dir = await listAll({ path: "dir" });
	eq(dir.map((e) => `${e.type}:${e.path}`).sort(), ["directory:dir/sub", "file:dir/b.txt"], "dir entries");
});

// ---- downloads

await check("downloadFile returns the uploaded bytes of regular and empty files", async () => {
	for (const [path, content] of Object.entries(small)) {
		const got = await download(path);
		assert(got !== null, `${path}: downloadFile returned null`);
		assert(sameBytes(got, content), `${path}: ${got.length} bytes differ from the ${content.length} uploaded`);
	}
});

await check("downloadFile returns the bytes of LFS files, through the resolve redirect", async () => {
	const before = await stats();
	const got = await download("big.bin");
	assert(got && sameBytes(got, big), `big.bin: got ${got?.length} bytes, sha256 ${got && sha256(got)}, expected ${bigSha}`);
	const gotSmall = await download("small.bin");
	assert(gotSmall && sameBytes(gotSmall, smallBin), "small.bin bytes differ");
	const after = await stats();
	assert(route(after, "lfs_object") - route(before, "lfs_object") >= 2, "the LFS object URL was not used");
	assert(status(after, 302) - status(before, 302) >= 2, "resolve did not redirect");
});

await check("a slice of a downloaded LFS file is fetched with a Range request (206)", async () => {
	const blob = await hub.downloadFile({ ...auth, repo, path: "big.bin" });
	const before = await stats();
	const part = Buffer.from(await blob.slice(chunk - 100, chunk + 100).arrayBuffer());
	const after = await stats();
	assert(sameBytes(part, big.subarray(chunk - 100, chunk + 100)), "slice bytes differ");
	assert(status(after, 206) - status(before, 206) >= 1, "no 206 answer was sent");
});

await check("downloadFile of a missing file returns null", async () => {
	eq(await download("no/such/file.txt"), null, "downloadFile");
});

await check("fileExists is true for files and false for a missing path", async () => {
	for (const p of ["hello.txt", "big.bin", "dir/sub/c.txt"]) {
		eq(await hub.fileExists({ ...auth, repo, path: p }), true, `fileExists(${p})`);
	}
	eq(await hub.fileExists({ ...auth, repo, path: "nope.txt" }), false, "fileExists(nope.txt)");
});

await check("pathsInfo describes existing paths and leaves missing ones out", async () => {
	const info = await hub.pathsInfo({ ...auth, repo, paths: ["hello.txt", "big.bin", "nope.txt", "dir"] });
	const byPath = Object.fromEntries(info.map((e) => [e.path, e]));
	eq(Object.keys(byPath).sort(), ["big.bin", "dir", "hello.txt"], "paths");
	eq(byPath["big.bin"].lfs?.oid, bigSha, "big.bin lfs.oid");
	eq(byPath["hello.txt"].oid, gitBlobSha1(small["hello.txt"]), "hello.txt oid");
	eq(byPath["dir"].type, "directory", "dir type");
});

// ---- updates, dedup, parentCommit

await check("uploadFiles overwrites an existing file", async () => {
	small["hello.txt"] = Buffer.from("hello again\n");
	await hub.uploadFiles({ ...auth, repo, files: [{ path: "hello.txt", content: new Blob([small["hello.txt"]]) }] });
	const got = await download("hello.txt");
	assert(got && sameBytes(got, small["hello.txt"]), `hello.txt is '${got}'`);
});

await check("uploading content the repo already stores skips the transfer", async () => {
	const before = await stats();
	await hub.uploadFiles({ ...auth, repo, files: [{ path: "copy/big-again.bin", content: new Blob([big]) }] });
	const after = await stats();
	eq(route(after, "lfs_part") - route(before, "lfs_part"), 0, "part PUTs");
	eq(route(after, "lfs_upload") - route(before, "lfs_upload"), 0, "basic PUTs");
	eq(after.lfs.objects_already_present - before.lfs.objects_already_present, 1, "objects reported present");
	const got = await download("copy/big-again.bin");
	assert(got && sameBytes(got, big), "copy/big-again.bin bytes differ");
});

await check("a commit with a stale parentCommit is rejected with 412, one on the head lands", async () => {
	const [head] = await first(hub.listCommits({ ...auth, repo, batchSize: 1 }), 1);
	await hub.uploadFiles({ ...auth, repo, files: [{ path: "other-writer.txt", content: new Blob(["x"]) }], parentCommit: head.oid });
	await expectStatus(
		hub.uploadFiles({ ...auth, repo, files: [{ path: "stale.txt", content: new Blob(["y"]) }], parentCommit: head.oid }),
		412,
		"commit on a stale parent",
	);
	eq(await hub.fileExists({ ...auth, repo, path: "stale.txt" }), false, "stale.txt after the refused commit");
	const [newHead] = await first(hub.listCommits({ ...auth, repo, batchSize: 1 }), 1);
	const res = await hub.uploadFiles({ ...auth, repo, files: [{ path: "stale.txt", content: new Blob(["y"]) }], parentCommit: newHead.oid });
	assert(res.commit.oid !== newHead.oid, "no new commit");
	eq(await hub.fileExists({ ...auth, repo, path: "stale.txt" }), true, "stale.txt after the commit on the head");
});

// ---- deletions

await check("deleteFiles removes the files and leaves the others", async () => {
	await hub.deleteFiles({ ...auth, repo, paths: ["hello.txt", "dir/b.txt"] });
	eq(await hub.fileExists({ ...auth, repo, path: "hello.txt" }), false, "fileExists(hello.txt)");
	eq(await hub.fileExists({ ...auth, repo, path: "dir/b.txt" }), false, "fileExists(dir/b.txt)");
	eq(await download("hello.txt"), null, "downloadFile(hello.txt)");
	const paths = (await listAll({ recursive: true })).map((e) => e.path);
	assert(!paths.includes("hello.txt") && !paths.includes("dir/b.txt"), `still listed: ${paths}`);
	assert(paths.includes("dir/sub/c.txt") && paths.includes("big.bin"), `lost other files: ${paths}`);
});

await check("deleteFiles of a missing path fails with 404", async () => {
	await expectStatus(hub.deleteFiles({ ...auth, repo, paths: ["never-there.txt"] }), 404, "deleteFiles");
});

await check("listCommits lists the history newest first; countCommits agrees", async () => {
	const commits = [];
	for await (const c of hub.listCommits({ ...auth, repo, batchSize: 3 })) commits.push(c);
	const titles = commits.map((c) => c.title);
	eq(titles[titles.length - 1], "initial commit", "oldest commit");
	eq(titles[titles.length - 2], "small files", "second commit");
	eq(titles[titles.length - 3], "large files", "third commit");
	eq(titles[0], "Deletes 2 files", "newest commit");
	eq(commits.length, 8, "number of commits");
	eq(await hub.countCommits({ ...auth, repo }), commits.length, "countCommits");
	const s = await stats();
	eq(s.repos[repoKey].history.main, commits.length, "history length in stats");
});

// ---- access control

await check("an unknown token is refused with 401", async () => {
	await expectStatus(listAll({ accessToken: "hf_wrong_token" }), 401, "listFiles with a bad token");
});

await check("another user cannot see the private repo (404) nor create in this namespace (403)", async () => {
	await expectStatus(
		(async () => {
			for await (const _ of hub.listFiles({ accessToken: otherToken, hubUrl: url, repo })) void _;
		})(),
		404,
		"listFiles as another user",
	);
	await expectStatus(
		hub.createRepo({ accessToken: otherToken, hubUrl: url, repo: { type: "dataset", name: "user/intruder" } }),
		403,
		"createRepo in another namespace",
	);
});

await check("without a token the private repo is hidden (401)", async () => {
	await expectStatus(hub.fileDownloadInfo({ hubUrl: url, repo, path: "big.bin" }), 401, "anonymous download");
});

// The client puts paths into URLs without encoding them, so names with '%', '#' or '?' cannot work
// with it against any server; those are left to the C client's own tests.
await check("odd file names (spaces, non-ASCII, '+', '=', ';', '&') round-trip through upload, listing and download", async () => {
	const names = ["odd names/ünï côdé.txt", "odd names/a+b=c.txt", "odd names/semi;colon & amp.txt"];
	await hub.uploadFiles({
		...auth,
		repo,
		files: names.map((path) => ({ path, content: new Blob([`content of ${path}`]) })),
	});
	const listed = (await listAll({ path: "odd names" })).map((e) => e.path).sort();
	eq(listed, [...names].sort(), "listing of 'odd names'");
	for (const path of names) {
		const got = await download(path);
		eq(got?.toString(), `content of ${path}`, `download of '${path}'`);
		eq(await hub.fileExists({ ...auth, repo, path }), true, `fileExists('${path}')`);
	}
	await hub.deleteFiles({ ...auth, repo, paths: names });
	eq(await hub.fileExists({ ...auth, repo, path: names[0] }), false, "fileExists after deleteFiles");
});

// ---- a model repo, deleted at the end

await check("a model repo: create, upload, download, deleteRepo", async () => {
	const model = "user/scratch-model";
	await hub.createRepo({ ...auth, repo: model });
	await hub.uploadFiles({ ...auth, repo: model, files: [{ path: "config.json", content: new Blob(['{"a":1}']) }] });
	const blob = await hub.downloadFile({ ...auth, repo: model, path: "config.json" });
	eq(await blob?.text(), '{"a":1}', "config.json");
	await hub.deleteRepo({ ...auth, repo: model });
	eq(await hub.repoExists({ ...auth, repo: model }), false, "repoExists after deleteRepo");
});

async function first(iter, n) {
	const out = [];
	for await (const x of iter) {
		out.push(x);
		if (out.length >= n) break;
	}
	return out;
}

process.exit(failed ? 1 : 0);
