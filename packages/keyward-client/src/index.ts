export {
  KeywardClient,
  type KeywardClientOptions,
  MAX_CACHE_AGE_MS,
  type RefusedToken,
  type StreamState,
  type Verification,
  type VerifiedToken,
  type VerifyOptions,
} from "./client.js";
export {
  KeywardAuthError,
  KeywardError,
  KeywardRequestError,
  KeywardUnavailableError,
} from "./errors.js";
export type * from "./generated/contract.js";
export { checkTokenFormat, type TokenFormatCheck } from "./token-format.js";
