// Completes a wasm-pack output directory: node scripts/fix-pkg.mjs <target> <dir>
// - package.json: sideEffects false, keywords, the repository; the name stays `sessionwire`.
// - PROTOCOL_VERSION (wasm-bindgen cannot export a constant), read from the core crate.
// - bundler/nodejs: a default export `init()` that resolves at once, so the PROTOCOL.md §8
//   line `import init, { ClientStore } from "sessionwire"` works with every target (the web
//   target's `init` loads the .wasm; the others load it on import).
// - The JavaScript (glue and snippets) minified with terser: comments and whitespace out, local
//   names shortened; exported names stay. It is what a browser downloads (6.3 KB of glue
//   became 3.1 KB gzip); the readable sources are src/transfer.js and wasm-bindgen's output.
import { readFileSync, writeFileSync, rmSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { minify } from "terser";

const [target, dir] = process.argv.slice(2);
if (!target || !dir) throw new Error("usage: fix-pkg.mjs <bundler|nodejs|web> <dir>");

const coreLib = readFileSync(new URL("../crates/core/src/lib.rs", import.meta.url), "utf8");
const version = Number(/pub const PROTOCOL_VERSION: u32 = (\d+);/.exec(coreLib)?.[1]);
if (!Number.isInteger(version)) throw new Error("PROTOCOL_VERSION not found in crates/core/src/lib.rs");

const pkgPath = join(dir, "package.json");
const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
pkg.name = "sessionwire";
pkg.sideEffects = false;
pkg.keywords = ["websocket", "wasm", "agent", "reconnect", "state", "ai", "chat"];
pkg.repository ??= { type: "git", url: "https://example.invalid/sessionwire" };
writeFileSync(pkgPath, JSON.stringify(pkg, null, 2) + "\n");
rmSync(join(dir, ".gitignore"), { force: true });

const js = join(dir, "sessionwire.js");
const dts = join(dir, "sessionwire.d.ts");
const marker = "// sessionwire: added by scripts/fix-pkg.mjs";
let code = readFileSync(js, "utf8");
let types = readFileSync(dts, "utf8");
if (!code.includes("PROTOCOL_VERSION")) {
  if (target === "nodejs") {
    code += `\n${marker}\nexports.PROTOCOL_VERSION = ${version};\nexports.default = function init() { return Promise.resolve(); };\n`;
  } else if (target === "bundler") {
    code += `\n${marker}\nexport const PROTOCOL_VERSION = ${version};\nexport default function init() { return Promise.resolve(); }\n`;
  } else {
    code += `\n${marker}\nexport const PROTOCOL_VERSION = ${version};\n`;
  }
  writeFileSync(js, code);
}
if (!types.includes(marker)) {
  types += `\n${marker}\n/** The protocol version this package speaks (\`hello.protocol\`). */\nexport const PROTOCOL_VERSION: ${version};\n`;
  if (target !== "web") {
    types += `/** Resolves at once: the .wasm is loaded on import with this target (API parity with the web target). */\nexport default function init(_options?: unknown): Promise<void>;\n`;
  }
  writeFileSync(dts, types);
}

// Methods usable unbound (PROTOCOL.md §8): `useSyncExternalStore(client.subscribe,
// client.getState)` passes them without their object. wasm-bindgen's methods read `this`, so each
// instance gets its methods bound on first use (a getter that caches the bound function).
const bindMarker = "// sessionwire: methods bound by scripts/fix-pkg.mjs";
const bind = `
${bindMarker}
for (const C of [ClientStore, SessionwireClient]) {
  const proto = C.prototype;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const method = Object.getOwnPropertyDescriptor(proto, name).value;
    if (name !== "constructor" && name !== "free" && typeof method === "function")
      Object.defineProperty(proto, name, {
        get() {
          const bound = method.bind(this);
          Object.defineProperty(this, name, { value: bound });
          return bound;
        },
      });
  }
}
`;
for (const file of ["sessionwire.js", "sessionwire_bg.js"]) {
  const path = join(dir, file);
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    continue;
  }
  if (text.includes("class ClientStore") && !text.includes(bindMarker)) writeFileSync(path, text + bind);
}

// Every JavaScript file of the package, the snippets included (they are ES modules with every
// target; the nodejs target's own files are CommonJS).
const files = readdirSync(dir, { recursive: true })
  .map(String)
  .filter((file) => file.endsWith(".js"));
for (const file of files) {
  const path = join(dir, file);
  const module = target !== "nodejs" || file.startsWith("snippets");
  const result = await minify(readFileSync(path, "utf8"), {
    module,
    compress: true,
    mangle: true,
    format: { comments: false },
  });
  writeFileSync(path, result.code + "\n");
}
