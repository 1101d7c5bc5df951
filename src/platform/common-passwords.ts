import { dictionary } from "@zxcvbn-ts/language-common";
import type { CommonPasswords } from "../services/ports.js";

let common: Set<string> | undefined;

/**
 * The common-password list of zxcvbn-ts (about 49,000 passwords from public breach
 * corpora, most common first, all lowercase), as a set built on first use. A password
 * is common when its lowercase form is in the list: `Password` is as weak as `password`.
 */
export const zxcvbnCommonPasswords: CommonPasswords = {
  isCommon(password) {
    common ??= new Set(dictionary["passwords-common"]);
    return common.has(password.toLowerCase());
  },
  size() {
    common ??= new Set(dictionary["passwords-common"]);
    return common.size;
  },
};
