#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { pinTickObject } from "./pin-tick-object.js";

const require = createRequire(import.meta.url);
const { version } = require("../../package.json") as { version: string };

// Run only as the program, not when imported. npm installs the `keyward` command as a
// symlink to this file, and Node names the module by its real path: compare real paths,
// or the installed command starts, does nothing and exits 0.
function isProgram(): boolean {
  const invoked = process.argv[1];
  if (invoked === undefined) return false;
  try {
    return realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

// Exit once, here: commands return exit codes.
if (isProgram()) {
  // Before the commands and everything they import are loaded (pin-tick-object.ts).
  pinTickObject();
  const { runCli } = await import("./commands.js");
  runCli(process.argv.slice(2), process.env, version).then(
    (code) => {
      if (code !== null) process.exit(code);
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
