// Reads a repo back with the official JavaScript client @huggingface/hub, for
// tests/e2e/test_hub.sh: what hfsync uploaded must be listed and downloaded like any file.
//
//   node tests/hub/readback.mjs URL TOKEN REPO [PREFIX]   (REPO like datasets/user/state)
//   node tests/hub/readback.mjs URL TOKEN REPO --commit PATH   (commit an unrelated small file)
//
// Lists the repo recursively (listFiles), downloads every file under PREFIX (downloadFile) and
// prints one line per file: "path<TAB>size<TAB>sha256 of the downloaded bytes<TAB>lfs oid or -".
// Exits 1 when a listed size or LFS oid does not match the downloaded bytes.

import { createHash } from "node:crypto";
import * as hub from "@huggingface/hub";

const [url, token, repo, prefix = "", path] = process.argv.slice(2);
if (!url || !token || !repo) {
	console.error("usage: node readback.mjs URL TOKEN REPO [PREFIX | --commit PATH]");
	process.exit(2);
}
const common = { hubUrl: url, accessToken: token, repo };

if (prefix === "--commit") {
	await hub.uploadFiles({
		...common,
		files: [{ path, content: new Blob([`unrelated commit ${Date.now()}\n`]) }],
		commitTitle: "an unrelated commit",
		useXet: false,
	});
	process.exit(0);
}

let bad = 0;
for await (const f of hub.listFiles({ ...common, recursive: true })) {
	if (f.type !== "file" || !f.path.startsWith(prefix)) continue;
	const blob = await hub.downloadFile({ ...common, path: f.path, xet: false });
	if (!blob) {
		console.error(`${f.path}: listed but downloadFile returned nothing`);
		bad++;
		continue;
	}
	const bytes = Buffer.from(await blob.arrayBuffer());
	const sha = createHash("sha256").update(bytes).digest("hex");
	const lfs = f.lfs ? f.lfs.oid : "-";
	if (bytes.length !== f.size || (f.lfs && lfs !== sha)) {
		console.error(`${f.path}: listed size ${f.size} / lfs ${lfs}, downloaded ${bytes.length} bytes / sha256 ${sha}`);
		bad++;
	}
	console.log(`${f.path}\t${bytes.length}\t${sha}\t${lfs}`);
}
process.exit(bad ? 1 : 0);
