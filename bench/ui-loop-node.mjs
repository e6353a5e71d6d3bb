// node bench/ui-loop-node.mjs: bench/ui-loop.mjs in Node, on the nodejs build (pkg).
import { createRequire } from "node:module";
import { uiLoop, report } from "./ui-loop.mjs";

const require = createRequire(import.meta.url);
const { default: init, ClientStore } = require(process.env.SESSIONWIRE_PKG ?? "../pkg/node.cjs");
await init();
console.log(report(uiLoop(ClientStore), `node ${process.version}`));
