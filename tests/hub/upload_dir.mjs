// Uploads a local directory into a Hub repo with the official JavaScript client @huggingface/hub,
// as one commit (the repo is created when missing): for tests/e2e/test_hub.sh, to show that what
// another client uploaded (a file:// backup, the original script's fixtures) restores with hfsync.
//
//   node tests/hub/upload_dir.mjs URL TOKEN REPO DIR [PATH_IN_REPO]   (REPO like datasets/user/x)

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import * as hub from "@huggingface/hub";

const [url, token, repo, dir, into = ""] = process.argv.slice(2);
if (!url || !token || !repo || !dir) {
	console.error("usage: node upload_dir.mjs URL TOKEN REPO DIR [PATH_IN_REPO]");
	process.exit(2);
}
const common = { hubUrl: url, accessToken: token, repo };
try {
	await hub.createRepo({ ...common, private: true });
} catch (e) {
	if (e.statusCode !== 409) throw e;
}
const files = [];
(function walk(d) {
	for (const name of readdirSync(d)) {
		const p = join(d, name);
		if (statSync(p).isDirectory()) walk(p);
		else {
			const rel = relative(dir, p).split("\\").join("/");
			files.push({ path: into ? `${into}/${rel}` : rel, content: new Blob([readFileSync(p)]) });
		}
	}
})(dir);
await hub.uploadFiles({ ...common, files, commitTitle: `upload ${files.length} files`, useXet: false });
console.log(`uploaded ${files.length} files`);
