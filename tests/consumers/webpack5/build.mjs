// `npm run build`: webpack through its Node API, failing on any error or warning.
import webpack from "webpack";
import config from "./webpack.config.mjs";

const stats = await new Promise((resolve, reject) =>
  webpack(config, (error, stats) => (error ? reject(error) : resolve(stats))),
);
console.log(stats.toString({ colors: false, modules: false, assets: true }));
if (stats.hasErrors() || stats.hasWarnings()) {
  console.error(`webpack: ${stats.compilation.errors.length} errors, ${stats.compilation.warnings.length} warnings`);
  process.exit(1);
}
