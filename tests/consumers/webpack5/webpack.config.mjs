// A plain React + TypeScript app's config: nothing here is about sessionwire (no wasm rule, no
// experiments); the package's `new URL("sessionwire_bg.wasm", import.meta.url)` is webpack 5's
// built-in asset handling.
import HtmlWebpackPlugin from "html-webpack-plugin";
import path from "node:path";

export default {
  mode: "production",
  context: import.meta.dirname,
  entry: "./src/main.tsx",
  output: { path: path.join(import.meta.dirname, "dist"), clean: true },
  resolve: { extensions: [".tsx", ".ts", ".js"] },
  module: {
    rules: [{ test: /\.tsx?$/, loader: "ts-loader", options: { transpileOnly: true }, exclude: /node_modules/ }],
  },
  plugins: [new HtmlWebpackPlugin({ template: "./index.html" })],
};
