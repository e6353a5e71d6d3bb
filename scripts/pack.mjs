// Makes the npm package in pkg/ (and the demo's copy in www/pkg/) from wasm-pack's `--target web`
// output in target/wasm-glue/ and the package's JavaScript half in src/js/:
//   node scripts/pack.mjs <glue-dir>
//
// pkg/ is one package with an `exports` map (PROTOCOL.md §8):
//   sessionwire.js   browsers and bundlers (ESM): the glue, src/js and the snippets, bundled
//   node.cjs         Node `require` (and `import` through node.mjs, so there is one instance)
//   react.js/.cjs    sessionwire/react (React is a peer dependency)
//   sessionwire_bg.wasm, sessionwire.d.ts (+ node.d.cts), react.d.ts, README.md, LICENSE-*
import { build } from "esbuild";
import { minify } from "terser";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const glue = resolve(process.argv[2] ?? join(root, "target/wasm-glue"));
const out = join(root, "pkg");
const www = join(root, "www/pkg");

const coreLib = readFileSync(join(root, "crates/core/src/lib.rs"), "utf8");
const protocol = Number(/pub const PROTOCOL_VERSION: u32 = (\d+);/.exec(coreLib)?.[1]);
if (!Number.isInteger(protocol)) throw new Error("PROTOCOL_VERSION not found in crates/core/src/lib.rs");
const version = /^version = "([^"]+)"/m.exec(readFileSync(join(root, "Cargo.toml"), "utf8"))?.[1];
if (!version) throw new Error("the workspace version not found in Cargo.toml");

// `#glue` is wasm-pack's glue; the glue's snippet imports (`./snippets/<crate-hash>/src/...`) are
// the sources in src/, so a module the glue and src/js both import (error.js) is one module.
const resolver = {
  name: "sessionwire",
  setup(b) {
    b.onResolve({ filter: /^#glue$/ }, () => ({ path: join(glue, "sessionwire.js") }));
    b.onLoad({ filter: /wasm-glue[\\/]sessionwire\.js$/ }, (args) => ({
      contents: renameGlue(readFileSync(args.path, "utf8")),
      loader: "js",
      resolveDir: glue,
    }));
    b.onResolve({ filter: /\/snippets\/[^/]+\/src\// }, (args) => ({
      path: join(root, "src", args.path.replace(/^.*\/snippets\/[^/]+\/src\//, "")),
    }));
  },
};
// The .wasm's import, export and module names were minified (scripts/build-pkg.sh writes the
// renaming to names.json): the glue is renamed to match as it is loaded. Every name is matched
// whole; an export only as `wasm.<name>`, the glue's one way of reaching them.
const names = JSON.parse(readFileSync(join(glue, "names.json"), "utf8"));
// The module's new name, as the .wasm itself says (the pass's JSON does not).
const wasmModules = new Set(
  WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(join(glue, "sessionwire_bg.wasm")))).map((i) => i.module),
);
if (wasmModules.size !== 1) throw new Error(`pack: the .wasm imports from ${[...wasmModules]}`);
const [minifiedModule] = wasmModules;
function renameGlue(text) {
  const word = (name) => name.replace(/[$]/g, "\\$&");
  const modules = new Set();
  for (const [module, from, to] of names.imports) {
    modules.add(module);
    const pattern = new RegExp(`\\b${word(from)}\\b`, "g");
    if (!pattern.test(text)) throw new Error(`pack: import ${from} not found in the glue`);
    text = text.replace(pattern, to);
  }
  for (const [from, to] of names.exports) {
    text = text.replace(new RegExp(`\\bwasm\\.${word(from)}\\b`, "g"), `wasm.${to}`);
  }
  if (modules.size !== 1) throw new Error(`pack: expected one import module, found ${[...modules]}`);
  const [module] = modules;
  const quoted = `"${module}": import0`;
  if (!text.includes(quoted)) throw new Error(`pack: ${quoted} not found in the glue`);
  text = text.replace(quoted, `"${minifiedModule}": import0`);
  if (/\bwasm\.(?:__wbg_|__wbindgen_|clientstore_)/.test(text)) throw new Error("pack: an export of the glue was not renamed");
  return text;
}

// A build with names (scripts/build-pkg.sh, SESSIONWIRE_PROFILE=1) keeps every identifier.
const profile = process.env.SESSIONWIRE_PROFILE === "1";
const common = {
  bundle: true,
  minify: !profile,
  legalComments: "none",
  target: "es2022",
  plugins: [resolver],
  define: { __SESSIONWIRE_PROTOCOL__: String(protocol) },
  logLevel: "warning",
  // The glue's default `new URL(..., import.meta.url)` is never reached from node.cjs.
  logOverride: { "empty-import-meta": "silent" },
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({ ...common, entryPoints: [join(root, "src/js/browser.js")], format: "esm", platform: "browser", outfile: join(out, "sessionwire.js") });
await build({ ...common, entryPoints: [join(root, "src/js/node.js")], format: "cjs", platform: "node", outfile: join(out, "node.cjs") });
const react = { ...common, entryPoints: [join(root, "src/js/react.js")], external: ["react"] };
await build({ ...react, format: "esm", platform: "neutral", outfile: join(out, "react.js") });
await build({ ...react, format: "cjs", platform: "node", outfile: join(out, "react.cjs") });
copyFileSync(join(glue, "sessionwire_bg.wasm"), join(out, "sessionwire_bg.wasm"));

// What a browser loads goes through terser after esbuild: three compress passes over the
// bundle take another ~230 B gzip off it (esbuild minifies each construct, terser also folds
// what the bundling made constant). Node's files stay as esbuild writes them.
for (const file of profile ? [] : ["sessionwire.js", "react.js"]) {
  const path = join(out, file);
  const squeezed = await minify(readFileSync(path, "utf8"), {
    module: true,
    compress: { passes: 3 },
    mangle: true,
    format: { comments: false },
  });
  writeFileSync(path, squeezed.code);
}

// node.mjs: Node's `import`, the very module `require` gets (no second copy of the state).
const exported = ["ClientStore", "SessionwireClient", "SessionwireError", "parseServerFrame", "PROTOCOL_VERSION"];
writeFileSync(
  join(out, "node.mjs"),
  `import m from "./node.cjs";\nexport default m.default;\nexport const { ${exported.join(", ")} } = m;\n`,
);

// Types: the Rust types (generated) and wasm-bindgen's ClientStore, then src/js's declarations.
const glueTypes = readFileSync(join(glue, "sessionwire.d.ts"), "utf8");
const end = glueTypes.indexOf("export type InitInput");
if (end < 0) throw new Error("unexpected glue .d.ts: no InitInput");
let types = glueTypes
  .slice(0, end)
  .replace("export type ErrorCode =", "/** The codes of a server's `error` frame (PROTOCOL.md §6). */\nexport type ServerErrorCode =")
  // `free()` stays; `[Symbol.dispose]` would need lib "esnext.disposable" in every consumer.
  .replace(/^\s*\[Symbol\.dispose\]\(\): void;\n/gm, "");
if (!types.includes("export type ServerErrorCode =")) throw new Error("ErrorCode not found in the generated types");
types += readFileSync(join(root, "src/js/sessionwire.d.ts"), "utf8");
writeFileSync(join(out, "sessionwire.d.ts"), types);
writeFileSync(join(out, "node.d.cts"), types);
copyFileSync(join(root, "src/js/react.d.ts"), join(out, "react.d.ts"));
writeFileSync(join(out, "react.d.cts"), readFileSync(join(root, "src/js/react.d.ts"), "utf8"));

for (const file of ["LICENSE-MIT", "LICENSE-APACHE"]) copyFileSync(join(root, file), join(out, file));
copyFileSync(join(root, "docs/npm-README.md"), join(out, "README.md"));

const pkg = {
  name: "sessionwire",
  version,
  description: "Client state store for long-running AI agent sessions: never lose or double a message across reconnects (Wasm).",
  license: "MIT OR Apache-2.0",
  type: "module",
  keywords: ["websocket", "wasm", "agent", "reconnect", "state", "ai", "chat", "react"],
  // Every module only defines things; the .wasm loads in `init()`.
  sideEffects: false,
  main: "./node.cjs",
  module: "./sessionwire.js",
  browser: "./sessionwire.js",
  types: "./sessionwire.d.ts",
  exports: {
    ".": {
      node: {
        import: { types: "./sessionwire.d.ts", default: "./node.mjs" },
        require: { types: "./node.d.cts", default: "./node.cjs" },
      },
      types: "./sessionwire.d.ts",
      default: "./sessionwire.js",
    },
    "./react": {
      import: { types: "./react.d.ts", default: "./react.js" },
      require: { types: "./react.d.cts", default: "./react.cjs" },
    },
    "./sessionwire_bg.wasm": "./sessionwire_bg.wasm",
    "./package.json": "./package.json",
  },
  files: ["sessionwire.js", "sessionwire_bg.wasm", "sessionwire.d.ts", "node.cjs", "node.mjs", "node.d.cts",
    "react.js", "react.cjs", "react.d.ts", "react.d.cts", "README.md", "LICENSE-MIT", "LICENSE-APACHE"],
  engines: { node: ">=20" },
  peerDependencies: { react: ">=18" },
  peerDependenciesMeta: { react: { optional: true } },
};
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

// The demo page loads /pkg/sessionwire.js (PROTOCOL.md §9): the browser entry, as shipped.
rmSync(www, { recursive: true, force: true });
mkdirSync(www, { recursive: true });
for (const file of ["sessionwire.js", "sessionwire_bg.wasm", "sessionwire.d.ts"]) copyFileSync(join(out, file), join(www, file));
