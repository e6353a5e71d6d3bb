// Writes every ```ts and ```tsx block of the npm README (docs/npm-README.md) to
// target/readme-snippets/, one module each, for `tsc -p tests/ts` (scripts/test-wasm.sh): the
// README's examples must compile under `strict` against the package as built.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const readme = readFileSync(new URL("../docs/npm-README.md", import.meta.url), "utf8");
const dir = new URL("../target/readme-snippets/", import.meta.url);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
let n = 0;
for (const [, lang, code] of readme.matchAll(/^```(tsx?)\n([\s\S]*?)^```$/gm)) {
  n++;
  // `export {}` makes each snippet a module of its own (top-level await, no shared names).
  writeFileSync(new URL(`snippet-${n}.${lang}`, dir), `${code}\nexport {};\n`);
}
if (n === 0) throw new Error("no ```ts blocks in docs/npm-README.md");
console.log(`readme-snippets: ${n} snippets in target/readme-snippets/`);
