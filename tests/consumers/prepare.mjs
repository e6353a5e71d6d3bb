// Copies the shared app (app/) into each bundler setup's src/, so that every import in it
// ("react", "sessionwire") resolves from that setup's own node_modules, as in a real app.
import { cpSync, rmSync } from "node:fs";
import path from "node:path";

const here = import.meta.dirname;
for (const setup of ["vite7", "vite8", "webpack5"]) {
  const src = path.join(here, setup, "src");
  rmSync(src, { recursive: true, force: true });
  cpSync(path.join(here, "app"), src, { recursive: true });
}
