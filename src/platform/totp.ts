import { Secret, TOTP } from "otpauth";
import type { Totp } from "../services/ports.js";

/** RFC 6238 defaults, the only settings every authenticator app honours. */
const SETTINGS = { algorithm: "SHA1", digits: 6, period: 30 } as const;

/**
 * Codes from one step before or after the server's are accepted too: a phone's clock
 * a little off, or a code typed as it rolled over.
 */
const DRIFT_STEPS = 1;

/** TOTP through the `otpauth` library (which compares codes in constant time). */
export const otpauthTotp: Totp = {
  encodeSecret: (bytes) =>
    new Secret({
      buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    }).base32,
  otpauthUrl: ({ secret, issuer, label }) =>
    new TOTP({ ...SETTINGS, issuer, label, secret: Secret.fromBase32(secret) }).toString(),
  matchStep: ({ secret, code, now }) => {
    const totp = new TOTP({ ...SETTINGS, secret: Secret.fromBase32(secret) });
    const delta = totp.validate({ token: code, timestamp: now, window: DRIFT_STEPS });
    return delta === null ? null : totp.counter({ timestamp: now }) + delta;
  },
};
