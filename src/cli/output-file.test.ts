import { execFileSync } from "node:child_process";
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  createPartialFile,
  discardPartialFile,
  finishPartialFile,
  refuseOutputFile,
} from "./output-file.js";

const folder = mkdtempSync(join(tmpdir(), "keyward-output-file-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** A store's files as a server leaves them. */
function storeIn(name: string): string {
  const dir = join(folder, name);
  mkdirSync(dir);
  const store = join(dir, "keyward.db");
  for (const suffix of ["", "-wal", "-shm"]) writeFileSync(`${store}${suffix}`, "store");
  return store;
}

describe("refuseOutputFile", () => {
  it("takes a new file in a folder that exists, and an existing one only with force", () => {
    const file = join(folder, "new.jsonl");
    expect(refuseOutputFile(file, { force: false, storePath: undefined })).toBeUndefined();
    writeFileSync(file, "kept");
    expect(refuseOutputFile(file, { force: false, storePath: undefined })).toMatchObject({
      code: 65,
      message: expect.stringContaining("add --force"),
    });
    expect(refuseOutputFile(file, { force: true, storePath: undefined })).toBeUndefined();
  });

  it("refuses the store and its files, by name however spelled and by identity, even with force", () => {
    const store = storeIn("store-a");
    const link = join(folder, "link-to-store-a");
    symlinkSync(join(folder, "store-a"), link);
    const hardLink = join(folder, "hard-link.db");
    linkSync(store, hardLink);
    for (const target of [
      store,
      `${store}-wal`,
      `${store}-shm`,
      `${store}-journal`,
      `${store}-server.lock`,
      join(link, "keyward.db"),
      join(folder, "store-a", ".", "keyward.db-wal"),
      hardLink,
    ]) {
      expect(refuseOutputFile(target, { force: true, storePath: store }), target).toMatchObject({
        code: 65,
        message: expect.stringContaining("is the store itself"),
      });
    }
    expect(readFileSync(store, "utf8")).toBe("store");
  });

  it("refuses what is not a regular file even with force, a missing folder, and an empty name", () => {
    const pipe = join(folder, "pipe");
    execFileSync("mkfifo", [pipe]);
    for (const target of [pipe, folder]) {
      expect(refuseOutputFile(target, { force: true, storePath: undefined })).toMatchObject({
        code: 65,
        message: expect.stringContaining("is not a regular file"),
      });
    }
    expect(statSync(pipe).isFIFO()).toBe(true);
    expect(
      refuseOutputFile(join(folder, "absent", "x"), { force: false, storePath: undefined }),
    ).toMatchObject({ code: 66, message: expect.stringContaining("absent: no such folder.") });
    expect(refuseOutputFile(" ", { force: false, storePath: undefined })?.code).toBe(64);
  });
});

describe("partial files", () => {
  it("are their owner's only, named by the run, and put in place whole", () => {
    const file = join(folder, "export.jsonl");
    const listening = process.listenerCount("SIGINT");
    const partial = createPartialFile(file);
    expect(partial.path).toMatch(new RegExp(`^${file}\\.${process.pid}-[0-9a-f]{8}\\.partial$`));
    const another = createPartialFile(file);
    expect(another.path).not.toBe(partial.path);
    discardPartialFile(another);
    expect(statSync(partial.path).mode & 0o777).toBe(0o600);
    // Interrupted, the command removes it.
    expect(process.listenerCount("SIGINT")).toBeGreaterThan(listening);
    writeFileSync(partial.path, "whole");
    finishPartialFile(partial, file, false);
    discardPartialFile(partial);
    expect(readFileSync(file, "utf8")).toBe("whole");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(partial.path)).toBe(false);
    expect(readdirSync(folder).filter((name) => name.endsWith(".partial"))).toEqual([]);
    expect(process.listenerCount("SIGINT")).toBe(listening);
  });

  it("without force, never replace a file that appeared after the check; with force, do", () => {
    const listening = process.listenerCount("SIGINT");
    const file = join(folder, "raced.jsonl");
    const partial = createPartialFile(file);
    writeFileSync(file, "someone else's");
    // Refused, naming the file that is there (not the partial one, about to go).
    expect(() => finishPartialFile(partial, file, false)).toThrow(
      expect.objectContaining({ code: "EEXIST", path: file }),
    );
    discardPartialFile(partial);
    expect(readFileSync(file, "utf8")).toBe("someone else's");
    expect(readdirSync(folder).filter((name) => name.startsWith("raced"))).toEqual(["raced.jsonl"]);

    const forced = createPartialFile(file);
    writeFileSync(forced.path, "mine");
    finishPartialFile(forced, file, true);
    expect(readFileSync(file, "utf8")).toBe("mine");
    expect(process.listenerCount("SIGINT")).toBe(listening);
  });

  it("take a dangling symbolic link at the name for a file that is there", () => {
    const link = join(folder, "dangling.jsonl");
    symlinkSync(join(folder, "nowhere"), link);
    expect(refuseOutputFile(link, { force: false, storePath: undefined })?.code).toBe(65);
    expect(refuseOutputFile(link, { force: true, storePath: undefined })).toBeUndefined();
  });
});
